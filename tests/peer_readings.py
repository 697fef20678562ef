"""The peers' own readings of a log, re-expressed from their source: the references our ports must equal."""

from __future__ import annotations

import re

#: bk-sops' own configuration, as its source has it (bk-sops 1c5e18d1,
#: ``pipeline_plugins/components/collections/sites/open/job/base.py``).
LOG_VAR_SEARCH_CONFIGS = [{"re": r"<SOPS_VAR>(.+?)</SOPS_VAR>", "kv_sep": ":"}]


def bk_sops(
    log_text: str, configs: list[dict[str, str]] = LOG_VAR_SEARCH_CONFIGS
) -> dict[str, str]:
    """bk-sops' ``get_sops_var_dict_from_log_text`` (bk-sops 1c5e18d1), step by step from its
    source without its logging."""
    sops_var_dict: dict[str, str] = {}
    for var_search_config in configs:
        reg = var_search_config["re"]
        excape_reg = reg.replace("<", "&lt;").replace(">", "&gt;")
        kv_sep = var_search_config["kv_sep"]
        sops_key_val_list = re.findall(reg, log_text, re.DOTALL)
        sops_key_val_list.extend(re.findall(excape_reg, log_text, re.DOTALL))
        if len(sops_key_val_list) == 0:
            continue
        for sops_key_val in sops_key_val_list:
            if kv_sep not in sops_key_val:
                continue
            sops_key, sops_val = sops_key_val.split(kv_sep, 1)
            if len(sops_key) == 0:
                continue
            sops_var_dict.update({sops_key: sops_val})
    return sops_var_dict
