"""The parameters each API of the endpoint table spells, on each flavor; its lines generated.

Its ``_LINES`` are written by ``scripts/gen_api_keys.py`` (``make api-keys``) from the
table's spellings, and checked current by ``tests/unit/test_api_keys.py``. ``SPELLED[api][flavor]`` is every
top-level parameter the client's spelling of ``api`` may send on ``flavor`` (its wire name
there). The SDK-shaped calls (``bkjob_async.compat``) read it to say which keys bk-job does not
read.
"""

from __future__ import annotations

__all__ = ["SPELLED"]

#: One line per API and flavor: bk-job's (v3) name, the ``ApiFlavor`` value, the keys spelled.
_LINES = """
batch_get_job_instance_execute_object_log apigw-v4 bk_scope_id bk_scope_type container_id_list host_id_list ip_list job_instance_id step_instance_id
batch_get_job_instance_ip_log apigw-v3 bk_scope_id bk_scope_type host_id_list ip_list job_instance_id step_instance_id
batch_get_job_instance_ip_log esb-jobv3 bk_scope_id bk_scope_type host_id_list ip_list job_instance_id step_instance_id
check_script apigw-v3 content script_language
check_script esb-jobv3 content script_language
create_account apigw-v3 account alias bk_scope_id bk_scope_type category description password type
create_account esb-jobv3 account alias bk_scope_id bk_scope_type category description password type
create_credential apigw-v3 bk_scope_id bk_scope_type credential_password credential_username description name type
create_credential esb-jobv3 bk_scope_id bk_scope_type credential_password credential_username description name type
create_dangerous_rule apigw-v3 action description expression script_language_list
create_dangerous_rule esb-jobv3 action description expression script_language_list
create_file_source apigw-v3 access_params alias bk_scope_id bk_scope_type code credential_id file_prefix type
create_file_source esb-jobv3 access_params alias bk_scope_id bk_scope_type code credential_id file_prefix type
create_job_plan apigw-v4 bk_scope_id bk_scope_type enable_steps job_template_id name variables
create_public_script apigw-v3 content description name script_language version version_desc
create_public_script esb-jobv3 content description name script_language version version_desc
create_public_script_version apigw-v3 content script_id version version_desc
create_public_script_version esb-jobv3 content script_id version version_desc
create_script apigw-v3 bk_scope_id bk_scope_type content description name script_language version version_desc
create_script esb-jobv3 bk_scope_id bk_scope_type content description name script_language version version_desc
create_script_version apigw-v3 bk_scope_id bk_scope_type content script_id version version_desc
create_script_version esb-jobv3 bk_scope_id bk_scope_type content script_id version version_desc
delete_account apigw-v3 bk_scope_id bk_scope_type id
delete_account esb-jobv3 bk_scope_id bk_scope_type id
delete_cron apigw-v3 bk_scope_id bk_scope_type id
delete_cron esb-jobv3 bk_scope_id bk_scope_type id
delete_dangerous_rule apigw-v3 id
delete_dangerous_rule esb-jobv3 id
delete_public_script apigw-v3 script_id
delete_public_script esb-jobv3 script_id
delete_public_script_version apigw-v3 script_id script_version_id
delete_public_script_version esb-jobv3 script_id script_version_id
delete_script apigw-v3 bk_scope_id bk_scope_type script_id
delete_script esb-jobv3 bk_scope_id bk_scope_type script_id
delete_script_version apigw-v3 bk_scope_id bk_scope_type script_id script_version_id
delete_script_version esb-jobv3 bk_scope_id bk_scope_type script_id script_version_id
disable_dangerous_rule apigw-v3 id
disable_dangerous_rule esb-jobv3 id
disable_public_script_version apigw-v3 script_id script_version_id
disable_public_script_version esb-jobv3 script_id script_version_id
disable_script_version apigw-v3 bk_scope_id bk_scope_type script_id script_version_id
disable_script_version esb-jobv3 bk_scope_id bk_scope_type script_id script_version_id
enable_dangerous_rule apigw-v3 id
enable_dangerous_rule esb-jobv3 id
execute_job_plan apigw-v3 bk_scope_id bk_scope_type callback_url global_var_list job_plan_id start_task
execute_job_plan esb-jobv3 bk_scope_id bk_scope_type callback_url global_var_list job_plan_id start_task
execute_job_plan esb-v2 bk_biz_id bk_callback_url bk_job_id global_vars
fast_execute_script apigw-v3 account_alias account_id bk_scope_id bk_scope_type callback_url is_param_sensitive rolling_config script_content script_id script_language script_param script_version_id start_task target_server task_name timeout
fast_execute_script esb-jobv3 account_alias account_id bk_scope_id bk_scope_type callback_url is_param_sensitive rolling_config script_content script_id script_language script_param script_version_id start_task target_server task_name timeout
fast_execute_script esb-v2 account bk_biz_id bk_callback_url is_param_sensitive script_content script_id script_param script_timeout script_type target_server task_name
fast_execute_script apigw-v4 account_alias account_id bk_scope_id bk_scope_type callback_url execute_target param_sensitive rolling_config script_content script_id script_language script_param script_version_id start_task task_name timeout
fast_execute_sql apigw-v3 bk_scope_id bk_scope_type callback_url db_account_id script_content script_id script_version_id start_task target_server task_name timeout
fast_execute_sql esb-jobv3 bk_scope_id bk_scope_type callback_url db_account_id script_content script_id script_version_id start_task target_server task_name timeout
fast_execute_sql esb-v2 bk_biz_id bk_callback_url db_account_id script_content script_id script_timeout target_server task_name
fast_transfer_file apigw-v3 account_alias account_id bk_scope_id bk_scope_type callback_url download_speed_limit file_source_list file_target_name file_target_path rolling_config start_task target_server task_name timeout transfer_mode upload_speed_limit
fast_transfer_file esb-jobv3 account_alias account_id bk_scope_id bk_scope_type callback_url download_speed_limit file_source_list file_target_name file_target_path rolling_config start_task target_server task_name timeout transfer_mode upload_speed_limit
fast_transfer_file esb-v2 account bk_biz_id bk_callback_url download_speed_limit file_source file_target_path target_server task_name timeout upload_speed_limit
generate_local_file_upload_url esb-jobv3 bk_scope_id bk_scope_type file_name_list
get_account_list apigw-v3 account alias bk_scope_id bk_scope_type category length start
get_account_list esb-jobv3 account alias bk_scope_id bk_scope_type category length start
get_account_list esb-v2 bk_biz_id
get_account_password_encryption_metadata apigw-v3
get_credential_detail apigw-v3 bk_scope_id bk_scope_type id
get_cron_detail apigw-v3 bk_scope_id bk_scope_type id
get_cron_detail esb-jobv3 bk_scope_id bk_scope_type id
get_cron_list apigw-v3 bk_scope_id bk_scope_type create_time_end create_time_start creator id last_modify_time_end last_modify_time_start last_modify_user length name start status
get_cron_list esb-jobv3 bk_scope_id bk_scope_type create_time_end create_time_start creator id last_modify_time_end last_modify_time_start last_modify_user length name start status
get_cron_list esb-v2 bk_biz_id creator cron_id cron_name cron_status last_modify_user length start
get_dangerous_rule_list apigw-v3 action description expression script_language_list
get_dangerous_rule_list esb-jobv3 action description expression script_language_list
get_file_source_detail apigw-v3 bk_scope_id bk_scope_type code
get_file_task_context apigw-v4 batch bk_scope_id bk_scope_type execute_count execute_object_resource_id execute_object_type job_instance_id mode step_instance_id
get_job_instance_global_var_value apigw-v3 bk_scope_id bk_scope_type job_instance_id
get_job_instance_global_var_value esb-jobv3 bk_scope_id bk_scope_type job_instance_id
get_job_instance_global_var_value esb-v2 bk_biz_id job_instance_id
get_job_instance_ip_log apigw-v3 bk_cloud_id bk_host_id bk_scope_id bk_scope_type ip job_instance_id step_instance_id
get_job_instance_ip_log esb-jobv3 bk_cloud_id bk_host_id bk_scope_id bk_scope_type ip job_instance_id step_instance_id
get_job_instance_list apigw-v3 bk_scope_id bk_scope_type create_time_end create_time_start ip job_cron_id job_instance_id launch_mode length name operator start status type
get_job_instance_list esb-jobv3 bk_scope_id bk_scope_type create_time_end create_time_start ip job_cron_id job_instance_id launch_mode length name operator start status type
get_job_instance_list apigw-v4 bk_scope_id bk_scope_type create_time_end create_time_start ip job_cron_id job_instance_id launch_mode length name offset operator status type
get_job_instance_log esb-v2 bk_biz_id job_instance_id
get_job_instance_status apigw-v3 bk_scope_id bk_scope_type job_instance_id return_ip_result
get_job_instance_status esb-jobv3 bk_scope_id bk_scope_type job_instance_id return_ip_result
get_job_instance_status esb-v2 bk_biz_id job_instance_id
get_job_instance_status apigw-v4 bk_scope_id bk_scope_type job_instance_id return_execute_object_result
get_job_plan_detail apigw-v3 bk_scope_id bk_scope_type job_plan_id
get_job_plan_detail esb-jobv3 bk_scope_id bk_scope_type job_plan_id
get_job_plan_detail esb-v2 bk_biz_id bk_job_id
get_job_plan_list apigw-v3 bk_scope_id bk_scope_type creator job_template_id last_modify_user length name start
get_job_plan_list esb-jobv3 bk_scope_id bk_scope_type creator job_template_id last_modify_user length name start
get_job_plan_list esb-v2 bk_biz_id creator last_modify_user length name start
get_job_template_detail apigw-v4 bk_scope_id bk_scope_type id
get_job_template_list apigw-v3 bk_scope_id bk_scope_type creator last_modify_user length name start
get_job_template_list esb-jobv3 bk_scope_id bk_scope_type creator last_modify_user length name start
get_latest_service_version esb-jobv3
get_notify_config apigw-v3 bk_scope_id bk_scope_type
get_own_db_account_list esb-v2 bk_biz_id
get_public_script_list apigw-v3 length name script_language start
get_public_script_list esb-jobv3 length name script_language start
get_public_script_list esb-v2 length script_name script_type start
get_public_script_version_detail apigw-v3 id script_id version
get_public_script_version_detail esb-jobv3 id script_id version
get_public_script_version_list apigw-v3 length return_script_content script_id start
get_public_script_version_list esb-jobv3 length return_script_content script_id start
get_script_detail esb-v2 bk_biz_id id
get_script_list apigw-v3 bk_scope_id bk_scope_type length name script_language start
get_script_list esb-jobv3 bk_scope_id bk_scope_type length name script_language start
get_script_list esb-v2 bk_biz_id length script_name script_type start
get_script_task_context apigw-v4 batch bk_scope_id bk_scope_type content execute_count execute_object_resource_id execute_object_type job_instance_id step_instance_id
get_script_version_detail apigw-v3 bk_scope_id bk_scope_type id script_id version
get_script_version_detail esb-jobv3 bk_scope_id bk_scope_type id script_id version
get_script_version_list apigw-v3 bk_scope_id bk_scope_type length return_script_content script_id start
get_script_version_list esb-jobv3 bk_scope_id bk_scope_type length return_script_content script_id start
get_step_instance_detail apigw-v3 bk_scope_id bk_scope_type job_instance_id step_instance_id
get_step_instance_status apigw-v3 batch bk_scope_id bk_scope_type execute_count job_instance_id max_host_num_per_group status step_instance_id tag
get_step_instance_status esb-v2 bk_biz_id job_instance_id step_instance_id
get_user_authorized_scopes apigw-v4 length offset
operate_job_instance apigw-v3 bk_scope_id bk_scope_type job_instance_id operation_code
operate_job_instance esb-jobv3 bk_scope_id bk_scope_type job_instance_id operation_code
operate_job_instance esb-v2 bk_biz_id job_instance_id operation_code
operate_step_instance apigw-v3 bk_scope_id bk_scope_type job_instance_id operation_code step_instance_id
operate_step_instance esb-jobv3 bk_scope_id bk_scope_type job_instance_id operation_code step_instance_id
operate_step_instance esb-v2 bk_biz_id job_instance_id operation_code step_instance_id
publish_public_script_version apigw-v3 script_id script_version_id
publish_public_script_version esb-jobv3 script_id script_version_id
publish_script_version apigw-v3 bk_scope_id bk_scope_type script_id script_version_id
publish_script_version esb-jobv3 bk_scope_id bk_scope_type script_id script_version_id
push_config_file apigw-v3 account_alias account_id bk_scope_id bk_scope_type callback_url file_list file_target_path target_server task_name
push_config_file esb-jobv3 account_alias account_id bk_scope_id bk_scope_type callback_url file_list file_target_path target_server task_name
push_config_file esb-v2 account bk_biz_id file_list file_target_path ip_list task_name
save_cron apigw-v3 bk_scope_id bk_scope_type execute_time execute_time_zone expression global_var_list id job_plan_id name
save_cron esb-jobv3 bk_scope_id bk_scope_type execute_time execute_time_zone expression global_var_list id job_plan_id name
save_cron esb-v2 bk_biz_id bk_job_id cron_expression cron_id cron_name
update_account apigw-v3 alias bk_scope_id bk_scope_type description id password
update_credential apigw-v3 bk_scope_id bk_scope_type credential_password credential_username description id name type
update_credential esb-jobv3 bk_scope_id bk_scope_type credential_password credential_username description id name type
update_cron_status apigw-v3 bk_scope_id bk_scope_type id status
update_cron_status esb-jobv3 bk_scope_id bk_scope_type id status
update_cron_status esb-v2 bk_biz_id cron_id cron_status
update_dangerous_rule apigw-v3 action description expression id script_language_list
update_dangerous_rule esb-jobv3 action description expression id script_language_list
update_file_source apigw-v3 access_params alias bk_scope_id bk_scope_type code credential_id file_prefix type
update_file_source esb-jobv3 access_params alias bk_scope_id bk_scope_type code credential_id file_prefix type
update_public_script_basic apigw-v3 description name script_id
update_public_script_basic esb-jobv3 description name script_id
update_public_script_version apigw-v3 content script_id script_version_id version_desc
update_public_script_version esb-jobv3 content script_id script_version_id version_desc
update_script_basic apigw-v3 bk_scope_id bk_scope_type description name script_id
update_script_basic esb-jobv3 bk_scope_id bk_scope_type description name script_id
update_script_version apigw-v3 bk_scope_id bk_scope_type content script_id script_version_id version_desc
update_script_version esb-jobv3 bk_scope_id bk_scope_type content script_id script_version_id version_desc
"""


def _read(lines: str) -> dict[str, dict[str, frozenset[str]]]:
    spelled: dict[str, dict[str, frozenset[str]]] = {}
    for line in lines.split("\n"):
        if line:
            name, flavor, *keys = line.split()
            spelled.setdefault(name, {})[flavor] = frozenset(keys)
    return spelled


#: By API (bk-job's v3 name), by flavor (``ApiFlavor`` value): the keys spelled.
SPELLED: dict[str, dict[str, frozenset[str]]] = _read(_LINES)
