"""Rule: the request fields bk-job reads, per generation and API; the lines generated.

``COMMIT`` and ``_LINES`` are written by ``scripts/java_fields.py --requests`` from bk-job's
resource interfaces: each API's ``@RequestParam`` names or its ``@RequestBody`` class's fields
(its parents' too), with their Java types. bk-job ignores any other key, so the simulator's
handlers see only these (``_api_catalog``), and ``tests/unit/test_request_fields.py`` holds
the client's spellings to them.
"""

from __future__ import annotations

__all__ = ["COMMIT", "FIELDS"]

#: The bk-job commit read, and one line per generation and API: the generation, the API, then
#: ``key:JavaType`` each.
COMMIT = "588f99bb"
_LINES = """
v2 execute_job bk_biz_id:Long bk_callback_url:String bk_job_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String global_vars:List<EsbGlobalVarDTO> length:Integer start:Integer
v2 fast_execute_script account:String bk_biz_id:Long bk_callback_url:String bk_scope_id:String bk_scope_type:String bk_supplier_account:String custom_query_id:List<String> ip_list:List<EsbIpDTO> is_param_sensitive:Integer length:Integer script_content:String script_id:Long script_param:String script_timeout:Integer script_type:Integer start:Integer target_server:EsbServerDTO task_name:String
v2 fast_execute_sql bk_biz_id:Long bk_callback_url:String bk_scope_id:String bk_scope_type:String bk_supplier_account:String custom_query_id:List<String> db_account_id:Long ip_list:List<EsbIpDTO> length:Integer script_content:String script_id:Long script_timeout:Integer start:Integer target_server:EsbServerDTO task_name:String
v2 fast_push_file account:String bk_biz_id:Long bk_callback_url:String bk_scope_id:String bk_scope_type:String bk_supplier_account:String custom_query_id:List<String> download_speed_limit:Integer file_source:List<EsbFileSourceDTO> file_target_path:String ip_list:List<EsbIpDTO> length:Integer start:Integer target_server:EsbServerDTO task_name:String timeout:Integer upload_speed_limit:Integer
v2 get_cron_list bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String create_time_end:String create_time_start:String creator:String cron_id:Long cron_name:String cron_status:Integer last_modify_time_end:String last_modify_time_start:String last_modify_user:String length:Integer start:Integer
v2 get_job_detail bk_biz_id:Long bk_job_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String length:Integer start:Integer
v2 get_job_instance_global_var_value bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String job_instance_id:Long length:Integer start:Integer
v2 get_job_instance_log bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String job_instance_id:Long length:Integer start:Integer
v2 get_job_instance_status bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String job_instance_id:Long length:Integer start:Integer
v2 get_job_list bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String create_time_end:String create_time_start:String creator:String last_modify_time_end:String last_modify_time_start:String last_modify_user:String length:Integer name:String start:Integer
v2 get_os_account bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String length:Integer start:Integer
v2 get_own_db_account_list bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String length:Integer start:Integer
v2 get_public_script_list bk_supplier_account:String length:Integer return_script_content:Boolean script_name:String script_type:Integer start:Integer
v2 get_script_detail bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String id:Long length:Integer start:Integer
v2 get_script_list bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String is_public:Boolean length:Integer return_script_content:Boolean script_name:String script_type:Integer start:Integer
v2 get_step_instance_status bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String job_instance_id:Long length:Integer start:Integer step_instance_id:Long
v2 operate_job_instance bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String job_instance_id:Long length:Integer operation_code:Integer start:Integer
v2 operate_step_instance bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String job_instance_id:Long length:Integer operation_code:Integer start:Integer step_instance_id:Long
v2 push_config_file account:String bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String content:String file_list:List<EsbConfigFileDTO> file_name:String file_target_path:String ip_list:List<EsbIpDTO> length:Integer start:Integer target_server:EsbServerDTO task_name:String
v2 save_cron bk_biz_id:Long bk_job_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String cron_expression:String cron_id:Long cron_name:String length:Integer start:Integer
v2 update_cron_status bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String cron_id:Long cron_status:Integer length:Integer start:Integer
v3 batch_get_job_instance_ip_log bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String host_id_list:List<Long> ip_list:List<OpenApiHostDTO> job_instance_id:Long length:Integer start:Integer step_instance_id:Long
v3 bkci_plugin_batch_get_job_instance_execute_object_log bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String execute_object_list:List<OpenApiExecuteObjectDTO> job_instance_id:Long length:Integer start:Integer step_instance_id:Long
v3 bkci_plugin_fast_execute_script account_alias:String account_id:Long bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String callback:EsbCallbackDTO execute_target:OpenApiExecuteTargetDTO is_param_sensitive:boolean length:Integer rolling_config:EsbRollingConfigDTO script_content:String script_id:String script_language:Integer script_param:String script_version_id:Long start:Integer task_name:String timeout:Integer windows_interpreter:String
v3 bkci_plugin_fast_transfer_file account_alias:String account_id:Long bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String callback_url:String download_speed_limit:Integer execute_object:OpenApiExecuteTargetDTO file_source_list:List<EsbFileSourceV3DTO> file_target_name:String file_target_path:String length:Integer rolling_config:EsbRollingConfigDTO start:Integer task_name:String timeout:Integer transfer_mode:Integer upload_speed_limit:Integer
v3 bkci_plugin_get_job_instance_status bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String include_execute_object_task_result:boolean job_instance_id:Long length:Integer start:Integer
v3 check_script bk_supplier_account:String content:String length:Integer script_language:Integer start:Integer
v3 create_account account:String alias:String bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String category:Integer description:String length:Integer password:String start:Integer type:Integer
v3 create_credential bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String credential_access_key:String credential_password:String credential_secret_key:String credential_username:String description:String id:String length:Integer name:String start:Integer type:String
v3 create_dangerous_rule action:Integer bk_supplier_account:String description:String expression:String length:Integer script_language_list:List<Byte> start:Integer
v3 create_file_source access_params:Map<String,Object> alias:String bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String code:String credential_id:String file_prefix:String length:Integer start:Integer type:String
v3 create_public_script bk_supplier_account:String content:String description:String length:Integer name:String script_language:Integer start:Integer version:String version_desc:String
v3 create_public_script_version bk_supplier_account:String content:String length:Integer script_id:String start:Integer version:String version_desc:String
v3 create_script bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String content:String description:String length:Integer name:String script_language:Integer start:Integer version:String version_desc:String
v3 create_script_version bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String content:String length:Integer script_id:String start:Integer version:String version_desc:String
v3 delete_account bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String id:Long length:Integer start:Integer
v3 delete_cron bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String id:Long length:Integer start:Integer
v3 delete_dangerous_rule bk_supplier_account:String id:Long length:Integer start:Integer
v3 delete_public_script bk_supplier_account:String length:Integer script_id:String start:Integer
v3 delete_public_script_version bk_supplier_account:String length:Integer script_id:String script_version_id:Long start:Integer
v3 delete_script bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String length:Integer script_id:String start:Integer
v3 delete_script_version bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String length:Integer script_id:String script_version_id:Long start:Integer
v3 disable_dangerous_rule bk_supplier_account:String id:Long length:Integer start:Integer
v3 disable_public_script_version bk_supplier_account:String length:Integer script_id:String script_version_id:Long start:Integer
v3 disable_script_version bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String length:Integer script_id:String script_version_id:Long start:Integer
v3 enable_dangerous_rule bk_supplier_account:String id:Long length:Integer start:Integer
v3 execute_job_plan bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String callback_url:String global_var_list:List<EsbGlobalVarV3DTO> job_plan_id:Long length:Integer start:Integer start_task:Boolean
v3 fast_execute_script account_alias:String account_id:Long bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String callback_url:String host_password_list:List<EsbCustomHostPasswordDTO> is_param_sensitive:Integer length:Integer rolling_config:EsbRollingConfigDTO script_content:String script_id:String script_language:Integer script_param:String script_version_id:Long start:Integer start_task:Boolean target_server:EsbServerV3DTO task_name:String timeout:Integer windows_interpreter:String
v3 fast_execute_sql bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String callback_url:String db_account_id:Long length:Integer script_content:String script_id:String script_version_id:Long start:Integer start_task:Boolean target_server:EsbServerV3DTO task_name:String timeout:Integer
v3 fast_transfer_file account_alias:String account_id:Long bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String callback_url:String download_speed_limit:Integer file_source_list:List<EsbFileSourceV3DTO> file_target_name:String file_target_path:String length:Integer rolling_config:EsbRollingConfigDTO start:Integer start_task:Boolean target_server:EsbServerV3DTO task_name:String timeout:Integer transfer_mode:Integer upload_speed_limit:Integer
v3 generate_local_file_upload_url bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String file_name_list:List<String> length:Integer start:Integer
v3 get_account_list account:String alias:String bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String category:Integer length:Integer start:Integer
v3 get_account_password_encryption_metadata
v3 get_credential_detail bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String id:String length:Integer start:Integer
v3 get_cron_detail bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String id:Long length:Integer start:Integer
v3 get_cron_list bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String create_time_end:Long create_time_start:Long creator:String id:Long last_modify_time_end:Long last_modify_time_start:Long last_modify_user:String length:Integer name:String start:Integer status:Integer
v3 get_dangerous_rule_list action:Integer bk_supplier_account:String description:String expression:String length:Integer script_language_list:List<Byte> start:Integer
v3 get_file_source_detail bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String code:String length:Integer start:Integer
v3 get_job_instance_global_var_value bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String job_instance_id:Long length:Integer start:Integer
v3 get_job_instance_ip_log bk_biz_id:Long bk_cloud_id:Long bk_host_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String ip:String job_instance_id:Long length:Integer start:Integer step_instance_id:Long
v3 get_job_instance_list bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String create_time_end:Long create_time_start:Long ip:String job_cron_id:Long job_instance_id:Long launch_mode:Integer length:Integer name:String operator:String start:Integer status:Integer type:Integer
v3 get_job_instance_status bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String job_instance_id:Long length:Integer return_ip_result:boolean start:Integer
v3 get_job_plan_detail bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String job_plan_id:Long length:Integer start:Integer
v3 get_job_plan_list bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String create_time_end:Long create_time_start:Long creator:String job_template_id:Long last_modify_time_end:Long last_modify_time_start:Long last_modify_user:String length:Integer name:String start:Integer
v3 get_job_template_list bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String create_time_end:Long create_time_start:Long creator:String last_modify_time_end:Long last_modify_time_start:Long last_modify_user:String length:Integer name:String start:Integer
v3 get_latest_service_version
v3 get_notify_config bk_scope_id:String bk_scope_type:String
v3 get_public_script_list bk_supplier_account:String length:Integer name:String script_language:Integer start:Integer
v3 get_public_script_version_detail bk_supplier_account:String id:Long length:Integer script_id:String start:Integer version:String
v3 get_public_script_version_list bk_supplier_account:String length:Integer return_script_content:Boolean script_id:String start:Integer
v3 get_script_list bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String length:Integer name:String script_language:Integer start:Integer
v3 get_script_version_detail bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String id:Long length:Integer script_id:String start:Integer version:String
v3 get_script_version_list bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String length:Integer return_script_content:Boolean script_id:String start:Integer
v3 get_step_instance_detail bk_scope_id:String bk_scope_type:String job_instance_id:Long step_instance_id:Long
v3 get_step_instance_status batch:Integer bk_scope_id:String bk_scope_type:String execute_count:Integer job_instance_id:Long keyword:String max_host_num_per_group:Integer search_ip:String status:Integer step_instance_id:Long tag:String
v3 operate_job_instance bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String job_instance_id:Long length:Integer operation_code:Integer start:Integer
v3 operate_step_instance bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String job_instance_id:Long length:Integer operation_code:Integer start:Integer step_instance_id:Long
v3 publish_public_script_version bk_supplier_account:String length:Integer script_id:String script_version_id:Long start:Integer
v3 publish_script_version bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String length:Integer script_id:String script_version_id:Long start:Integer
v3 push_config_file account_alias:String account_id:Long bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String callback_url:String content:String file_list:List<EsbConfigFileDTO> file_name:String file_target_path:String length:Integer start:Integer target_server:EsbServerV3DTO task_name:String
v3 query_agent_info bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String host_id_list:List<Long> length:Integer start:Integer
v3 query_gse_task step_instance_id:Long
v3 query_job_instance gse_task_id:String
v3 save_cron bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String execute_time:Long execute_time_zone:String expression:String global_var_list:List<EsbGlobalVarV3DTO> id:Long job_plan_id:Long length:Integer name:String start:Integer
v3 update_account alias:String bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String description:String id:Long length:Integer password:String start:Integer
v3 update_credential bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String credential_access_key:String credential_password:String credential_secret_key:String credential_username:String description:String id:String length:Integer name:String start:Integer type:String
v3 update_cron_status bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String id:Long length:Integer start:Integer status:Integer
v3 update_cron_status_for_migration bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String id:Long length:Integer start:Integer status:Integer
v3 update_dangerous_rule action:Integer bk_supplier_account:String description:String expression:String id:Long length:Integer script_language_list:List<Byte> start:Integer
v3 update_file_source access_params:Map<String,Object> alias:String bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String code:String credential_id:String file_prefix:String length:Integer start:Integer type:String
v3 update_public_script_basic bk_supplier_account:String description:String length:Integer name:String script_id:String start:Integer
v3 update_public_script_version bk_supplier_account:String content:String length:Integer script_id:String script_version_id:Long start:Integer version_desc:String
v3 update_script_basic bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String description:String length:Integer name:String script_id:String start:Integer
v3 update_script_version bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String content:String length:Integer script_id:String script_version_id:Long start:Integer version_desc:String
v4 batch_get_job_instance_execute_object_log bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String container_id_list:List<Long> host_id_list:List<Long> ip_list:List<OpenApiV4HostDTO> job_instance_id:Long length:Integer start:Integer step_instance_id:Long
v4 create_job_plan bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String enable_steps:List<Long> job_template_id:Long length:Integer name:String start:Integer variables:List<V4JobPlanVariableItem>
v4 fast_execute_script account_alias:String account_id:Long bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String callback_url:String execute_target:V4ExecuteTargetDTO host_password_list:List<EsbCustomHostPasswordDTO> length:Integer param_sensitive:boolean rolling_config:EsbRollingConfigDTO script_content:String script_id:String script_language:Integer script_param:String script_version_id:Long start:Integer start_task:Boolean task_name:String timeout:Integer windows_interpreter:String
v4 get_file_task_context batch:Integer bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String execute_count:Integer execute_object_resource_id:Long execute_object_type:Integer job_instance_id:Long length:Integer mode:Integer start:Integer step_instance_id:Long
v4 get_job_instance_list bk_scope_id:String bk_scope_type:String create_time_end:Long create_time_start:Long ip:String job_cron_id:Long job_instance_id:Long launch_mode:Integer length:Integer name:String offset:Integer operator:String status:Integer type:Integer
v4 get_job_instance_status bk_scope_id:String bk_scope_type:String job_instance_id:Long return_execute_object_result:boolean
v4 get_job_template_detail bk_scope_id:String bk_scope_type:String id:Long
v4 get_script_task_context batch:Integer bk_biz_id:Long bk_scope_id:String bk_scope_type:String bk_supplier_account:String content:String execute_count:Integer execute_object_resource_id:Long execute_object_type:Integer job_instance_id:Long length:Integer start:Integer step_instance_id:Long
v4 get_user_authorized_scopes length:Integer offset:Integer
"""


def _read(lines: str) -> dict[str, dict[str, dict[str, str]]]:
    fields: dict[str, dict[str, dict[str, str]]] = {}
    for line in lines.split("\n"):
        if line:
            generation, api, *keys = line.split()
            read = fields.setdefault(generation, {}).setdefault(api, {})
            for key in keys:
                name, java_type = key.split(":", 1)
                read[name] = java_type
    return fields


#: By generation (``v2``, ``v3``, ``v4``), by API (its name there): each key and Java type.
FIELDS: dict[str, dict[str, dict[str, str]]] = _read(_LINES)
