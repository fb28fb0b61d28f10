# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""PostgreSQL 15 parameters (GUCs): names, types, units, ranges, contexts, and the checks on them.

Interim home: the per-major tables belong at the door (``module_utils/postgres/gucs*.py``); this
file goes away when those exist, and ``dynconfig.py`` calls them instead. Only the PostgreSQL side
is here (type, unit, range, enum, read-only, restart context); what Patroni adds on top (its
minimums, the parameters it manages itself) is in ``dynconfig.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# PostgreSQL 15 parameters from pg_settings: name, context (P=restart, I=read-only, else reload:
# H=sighup, S=superuser, U=user, B=backend), type (b/e/i/r/s), unit, range (min:max) or enum values.
_PG15_GUCS = """
DateStyle U s - -
IntervalStyle U e - postgres|postgres_verbose|sql_standard|iso_8601
TimeZone U s - -
allow_in_place_tablespaces S b - -
allow_system_table_mods S b - -
application_name U s - -
archive_cleanup_command H s - -
archive_command H s - -
archive_library H s - -
archive_mode P e - always|on|off
archive_timeout H i s 0:1073741823
array_nulls U b - -
authentication_timeout H i s 1:600
autovacuum H b - -
autovacuum_analyze_scale_factor H r - 0:100
autovacuum_analyze_threshold H i - 0:2147483647
autovacuum_freeze_max_age P i - 100000:2000000000
autovacuum_max_workers P i - 1:262143
autovacuum_multixact_freeze_max_age P i - 10000:2000000000
autovacuum_naptime H i s 1:2147483
autovacuum_vacuum_cost_delay H r ms -1:100
autovacuum_vacuum_cost_limit H i - -1:10000
autovacuum_vacuum_insert_scale_factor H r - 0:100
autovacuum_vacuum_insert_threshold H i - -1:2147483647
autovacuum_vacuum_scale_factor H r - 0:100
autovacuum_vacuum_threshold H i - 0:2147483647
autovacuum_work_mem H i kB -1:2147483647
backend_flush_after U i 8kB 0:256
backslash_quote U e - safe_encoding|on|off
backtrace_functions S s - -
bgwriter_delay H i ms 10:10000
bgwriter_flush_after H i 8kB 0:256
bgwriter_lru_maxpages H i - 0:1073741823
bgwriter_lru_multiplier H r - 0:10
block_size I i - 8192:8192
bonjour P b - -
bonjour_name P s - -
bytea_output U e - escape|hex
check_function_bodies U b - -
checkpoint_completion_target H r - 0:1
checkpoint_flush_after H i 8kB 0:256
checkpoint_timeout H i s 30:86400
checkpoint_warning H i s 0:2147483647
client_connection_check_interval U i ms 0:2147483647
client_encoding U s - -
client_min_messages U e - debug5|debug4|debug3|debug2|debug1|log|notice|warning|error
cluster_name P s - -
commit_delay S i - 0:100000
commit_siblings U i - 0:1000
compute_query_id U e - auto|regress|on|off
config_file P s - -
constraint_exclusion U e - partition|on|off
cpu_index_tuple_cost U r - 0:1.79769e+308
cpu_operator_cost U r - 0:1.79769e+308
cpu_tuple_cost U r - 0:1.79769e+308
cursor_tuple_fraction U r - 0:1
data_checksums I b - -
data_directory P s - -
data_directory_mode I i - 0:511
data_sync_retry P b - -
db_user_namespace H b - -
deadlock_timeout S i ms 1:2147483647
debug_assertions I b - -
debug_discard_caches S i - 0:0
debug_pretty_print U b - -
debug_print_parse U b - -
debug_print_plan U b - -
debug_print_rewritten U b - -
default_statistics_target U i - 1:10000
default_table_access_method U s - -
default_tablespace U s - -
default_text_search_config U s - -
default_toast_compression U e - pglz|lz4
default_transaction_deferrable U b - -
default_transaction_isolation U e - serializable|repeatable read|read committed|read uncommitted
default_transaction_read_only U b - -
dynamic_library_path S s - -
dynamic_shared_memory_type P e - posix|sysv|mmap
effective_cache_size U i 8kB 1:2147483647
effective_io_concurrency U i - 0:1000
enable_async_append U b - -
enable_bitmapscan U b - -
enable_gathermerge U b - -
enable_group_by_reordering U b - -
enable_hashagg U b - -
enable_hashjoin U b - -
enable_incremental_sort U b - -
enable_indexonlyscan U b - -
enable_indexscan U b - -
enable_material U b - -
enable_memoize U b - -
enable_mergejoin U b - -
enable_nestloop U b - -
enable_parallel_append U b - -
enable_parallel_hash U b - -
enable_partition_pruning U b - -
enable_partitionwise_aggregate U b - -
enable_partitionwise_join U b - -
enable_seqscan U b - -
enable_sort U b - -
enable_tidscan U b - -
escape_string_warning U b - -
event_source P s - -
exit_on_error U b - -
extension_destdir S s - -
external_pid_file P s - -
extra_float_digits U i - -15:3
force_parallel_mode U e - off|on|regress
from_collapse_limit U i - 1:2147483647
fsync H b - -
full_page_writes H b - -
geqo U b - -
geqo_effort U i - 1:10
geqo_generations U i - 0:2147483647
geqo_pool_size U i - 0:2147483647
geqo_seed U r - 0:1
geqo_selection_bias U r - 1.5:2
geqo_threshold U i - 2:2147483647
gin_fuzzy_search_limit U i - 0:2147483647
gin_pending_list_limit U i kB 64:2147483647
hash_mem_multiplier U r - 1:1000
hba_file P s - -
hot_standby P b - -
hot_standby_feedback H b - -
huge_page_size P i kB 0:2147483647
huge_pages P e - off|on|try
idle_in_transaction_session_timeout U i ms 0:2147483647
idle_session_timeout U i ms 0:2147483647
ident_file P s - -
ignore_checksum_failure S b - -
ignore_invalid_pages P b - -
ignore_system_indexes B b - -
in_hot_standby I b - -
integer_datetimes I b - -
jit U b - -
jit_above_cost U r - -1:1.79769e+308
jit_debugging_support B b - -
jit_dump_bitcode S b - -
jit_expressions U b - -
jit_inline_above_cost U r - -1:1.79769e+308
jit_optimize_above_cost U r - -1:1.79769e+308
jit_profiling_support B b - -
jit_provider P s - -
jit_tuple_deforming U b - -
join_collapse_limit U i - 1:2147483647
krb_caseins_users H b - -
krb_server_keyfile H s - -
lc_collate I s - -
lc_ctype I s - -
lc_messages S s - -
lc_monetary U s - -
lc_numeric U s - -
lc_time U s - -
listen_addresses P s - -
lo_compat_privileges S b - -
local_preload_libraries U s - -
lock_timeout U i ms 0:2147483647
log_autovacuum_min_duration H i ms -1:2147483647
log_checkpoints H b - -
log_connections B b - -
log_destination H s - -
log_directory H s - -
log_disconnections B b - -
log_duration S b - -
log_error_verbosity S e - terse|default|verbose
log_executor_stats S b - -
log_file_mode H i - 0:511
log_filename H s - -
log_hostname H b - -
log_line_prefix H s - -
log_lock_waits S b - -
log_min_duration_sample S i ms -1:2147483647
log_min_duration_statement S i ms -1:2147483647
log_min_error_statement S e - debug5|debug4|debug3|debug2|debug1|info|notice|warning|error|log|fatal|panic
log_min_messages S e - debug5|debug4|debug3|debug2|debug1|info|notice|warning|error|log|fatal|panic
log_parameter_max_length S i B -1:1073741823
log_parameter_max_length_on_error U i B -1:1073741823
log_parser_stats S b - -
log_planner_stats S b - -
log_recovery_conflict_waits H b - -
log_replication_commands S b - -
log_rotation_age H i min 0:35791394
log_rotation_size H i kB 0:2097151
log_startup_progress_interval H i ms 0:2147483647
log_statement S e - none|ddl|mod|all
log_statement_sample_rate S r - 0:1
log_statement_stats S b - -
log_temp_files S i kB -1:2147483647
log_timezone H s - -
log_transaction_sample_rate S r - 0:1
log_truncate_on_rotation H b - -
logging_collector P b - -
logical_decoding_work_mem U i kB 64:2147483647
maintenance_io_concurrency U i - 0:1000
maintenance_work_mem U i kB 1024:2147483647
max_connections P i - 1:262143
max_files_per_process P i - 64:2147483647
max_function_args I i - 100:100
max_identifier_length I i - 63:63
max_index_keys I i - 32:32
max_locks_per_transaction P i - 10:2147483647
max_logical_replication_workers P i - 0:262143
max_parallel_maintenance_workers U i - 0:1024
max_parallel_workers U i - 0:1024
max_parallel_workers_per_gather U i - 0:1024
max_pred_locks_per_page H i - 0:2147483647
max_pred_locks_per_relation H i - -2147483648:2147483647
max_pred_locks_per_transaction P i - 10:2147483647
max_prepared_transactions P i - 0:262143
max_replication_slots P i - 0:262143
max_slot_wal_keep_size H i MB -1:2147483647
max_stack_depth S i kB 100:2147483647
max_standby_archive_delay H i ms -1:2147483647
max_standby_streaming_delay H i ms -1:2147483647
max_sync_workers_per_subscription H i - 0:262143
max_wal_senders P i - 0:262143
max_wal_size H i MB 2:2147483647
max_worker_processes P i - 0:262143
min_dynamic_shared_memory P i MB 0:2147483647
min_parallel_index_scan_size U i 8kB 0:715827882
min_parallel_table_scan_size U i 8kB 0:715827882
min_wal_size H i MB 2:2147483647
old_snapshot_threshold P i min -1:86400
parallel_leader_participation U b - -
parallel_setup_cost U r - 0:1.79769e+308
parallel_tuple_cost U r - 0:1.79769e+308
password_encryption U e - md5|scram-sha-256
plan_cache_mode U e - auto|force_generic_plan|force_custom_plan
port P i - 1:65535
post_auth_delay B i s 0:2147
pre_auth_delay H i s 0:60
primary_conninfo H s - -
primary_slot_name H s - -
promote_trigger_file H s - -
quote_all_identifiers U b - -
random_page_cost U r - 0:1.79769e+308
recovery_end_command H s - -
recovery_init_sync_method P e - fsync|syncfs
recovery_min_apply_delay H i ms 0:2147483647
recovery_prefetch H e - off|on|try
recovery_target P s - -
recovery_target_action P e - pause|promote|shutdown
recovery_target_inclusive P b - -
recovery_target_lsn P s - -
recovery_target_name P s - -
recovery_target_time P s - -
recovery_target_timeline P s - -
recovery_target_xid P s - -
recursive_worktable_factor U r - 0.001:1e+06
remove_temp_files_after_crash S b - -
restart_after_crash H b - -
restore_command H s - -
row_security U b - -
search_path U s - -
segment_size I i 8kB 131072:131072
seq_page_cost U r - 0:1.79769e+308
server_encoding I s - -
server_version I s - -
server_version_num I i - 150018:150018
session_preload_libraries S s - -
session_replication_role S e - origin|replica|local
shared_buffers P i 8kB 16:1073741823
shared_memory_size I i MB 0:2147483647
shared_memory_size_in_huge_pages I i - -1:2147483647
shared_memory_type P e - sysv|mmap
shared_preload_libraries P s - -
ssl H b - -
ssl_ca_file H s - -
ssl_cert_file H s - -
ssl_ciphers H s - -
ssl_crl_dir H s - -
ssl_crl_file H s - -
ssl_dh_params_file H s - -
ssl_ecdh_curve H s - -
ssl_key_file H s - -
ssl_library I s - -
ssl_max_protocol_version H e - |TLSv1|TLSv1.1|TLSv1.2|TLSv1.3
ssl_min_protocol_version H e - TLSv1|TLSv1.1|TLSv1.2|TLSv1.3
ssl_passphrase_command H s - -
ssl_passphrase_command_supports_reload H b - -
ssl_prefer_server_ciphers H b - -
standard_conforming_strings U b - -
statement_timeout U i ms 0:2147483647
stats_fetch_consistency U e - none|cache|snapshot
superuser_reserved_connections P i - 0:262143
synchronize_seqscans U b - -
synchronous_commit U e - local|remote_write|remote_apply|on|off
synchronous_standby_names H s - -
syslog_facility H e - local0|local1|local2|local3|local4|local5|local6|local7
syslog_ident H s - -
syslog_sequence_numbers H b - -
syslog_split_messages H b - -
tcp_keepalives_count U i - 0:2147483647
tcp_keepalives_idle U i s 0:2147483647
tcp_keepalives_interval U i s 0:2147483647
tcp_user_timeout U i ms 0:2147483647
temp_buffers U i 8kB 100:1073741823
temp_file_limit S i kB -1:2147483647
temp_tablespaces U s - -
timezone_abbreviations U s - -
trace_notify U b - -
trace_recovery_messages H e - debug5|debug4|debug3|debug2|debug1|log|notice|warning|error
trace_sort U b - -
track_activities S b - -
track_activity_query_size P i B 100:1048576
track_commit_timestamp P b - -
track_counts S b - -
track_functions S e - none|pl|all
track_io_timing S b - -
track_wal_io_timing S b - -
transaction_deferrable U b - -
transaction_isolation U e - serializable|repeatable read|read committed|read uncommitted
transaction_read_only U b - -
transform_null_equals U b - -
unix_socket_directories P s - -
unix_socket_group P s - -
unix_socket_permissions P i - 0:511
update_process_title S b - -
vacuum_cost_delay U r ms 0:100
vacuum_cost_limit U i - 1:10000
vacuum_cost_page_dirty U i - 0:10000
vacuum_cost_page_hit U i - 0:10000
vacuum_cost_page_miss U i - 0:10000
vacuum_defer_cleanup_age H i - 0:1000000
vacuum_failsafe_age U i - 0:2100000000
vacuum_freeze_min_age U i - 0:1000000000
vacuum_freeze_table_age U i - 0:2000000000
vacuum_multixact_failsafe_age U i - 0:2100000000
vacuum_multixact_freeze_min_age U i - 0:1000000000
vacuum_multixact_freeze_table_age U i - 0:2000000000
wal_block_size I i - 8192:8192
wal_buffers P i 8kB -1:262143
wal_compression S e - pglz|lz4|zstd|on|off
wal_consistency_checking S s - -
wal_decode_buffer_size P i B 65536:1073741823
wal_init_zero S b - -
wal_keep_size H i MB 0:2147483647
wal_level P e - minimal|replica|logical
wal_log_hints P b - -
wal_receiver_create_temp_slot H b - -
wal_receiver_status_interval H i s 0:2147483
wal_receiver_timeout H i ms 0:2147483647
wal_recycle S b - -
wal_retrieve_retry_interval H i ms 1:2147483647
wal_segment_size I i B 1048576:1073741824
wal_sender_timeout U i ms 0:2147483647
wal_skip_threshold U i kB 0:2147483647
wal_sync_method H e - fsync|fdatasync|open_sync|open_datasync
wal_writer_delay H i ms 1:10000
wal_writer_flush_after H i 8kB 0:2147483647
work_mem U i kB 64:2147483647
xmlbinary U e - base64|hex
xmloption U e - content|document
zero_damaged_pages S b - -
"""


def _load_gucs():
    table = {}
    for line in _PG15_GUCS.strip().splitlines():
        name, context, vartype, unit, spec = line.split(" ", 4)
        entry = {"context": context, "type": vartype, "unit": None if unit == "-" else unit}
        if vartype in ("i", "r") and spec != "-":
            low, high = spec.split(":")
            entry["min"], entry["max"] = float(low), float(high)
        elif vartype == "e":
            entry["values"] = spec.split("|")
        table[name.lower()] = entry
    return table


PG_PARAMETERS = _load_gucs()

_MEMORY_UNITS = {"B": 1, "kB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}
_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60000.0, "h": 3600000.0, "d": 86400000.0}
_BASE_UNITS = {"B": ("mem", 1), "kB": ("mem", 1024), "8kB": ("mem", 8192), "MB": ("mem", 1024 ** 2),
               "ms": ("time", 1.0), "s": ("time", 1000.0), "min": ("time", 60000.0)}
_BOOL_WORDS = {"on": True, "off": False, "true": True, "false": False, "yes": True, "no": False,
               "1": True, "0": False}


def _parse_bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _BOOL_WORDS:
        return _BOOL_WORDS[text]
    # PostgreSQL accepts any unambiguous prefix of these words
    hits = set(v for word, v in _BOOL_WORDS.items() if len(text) >= 2 and word.startswith(text))
    if len(hits) == 1:
        return hits.pop()
    raise ValueError("not a boolean")


def _parse_number_with_unit(value, unit):
    """``value`` in the parameter's base unit (float). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    m = re.match(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)$", text)
    if not m:
        raise ValueError("not a number")
    number, suffix = float(m.group(1)), m.group(2)
    if not suffix:
        return number
    if unit is None or unit not in _BASE_UNITS:
        raise ValueError("this parameter takes no unit")
    kind, base = _BASE_UNITS[unit]
    if kind == "mem":
        if suffix not in _MEMORY_UNITS:
            raise ValueError("memory units are B, kB, MB, GB and TB (case-sensitive)")
        return number * _MEMORY_UNITS[suffix] / base
    if suffix not in _TIME_UNITS:
        raise ValueError("time units are us, ms, s, min, h and d")
    return number * _TIME_UNITS[suffix] / base


def guc_problem(name, value):
    """Why ``name = value`` is wrong for PostgreSQL 15 (text), or ``None``. Unknown names: ``None``."""
    key = name.lower()
    spec = PG_PARAMETERS.get(key)
    if spec is None or value is None:
        return None
    if isinstance(value, (dict, list)):
        return "must be a scalar, not a %s" % type(value).__name__
    if spec["context"] == "I":
        return "is read-only (compiled in or set at initdb)"
    vartype = spec["type"]
    if vartype == "b":
        try:
            _parse_bool(value)
        except ValueError:
            return "must be a boolean (on/off, true/false), not %r" % (value,)
    elif vartype == "e":
        allowed = [v.lower() for v in spec["values"]]
        text = str(value).strip().lower() if not isinstance(value, bool) else ("on" if value else "off")
        aliases = list(allowed)
        if "on" in allowed and "off" in allowed:
            aliases += list(_BOOL_WORDS)
        if key == "wal_level":
            aliases += ["hot_standby", "archive"]
        if text not in aliases:
            return "must be one of %s, not %r" % (", ".join(v for v in spec["values"] if v), value)
    elif vartype in ("i", "r"):
        try:
            number = _parse_number_with_unit(value, spec["unit"])
        except ValueError as err:
            hint = " with an optional unit (%s)" % _unit_hint(spec["unit"]) if spec["unit"] else ""
            return "must be a number%s, not %r (%s)" % (hint, value, err)
        if vartype == "i" and number != int(number) and not spec["unit"]:
            return "must be an integer, not %r" % (value,)
        if "min" in spec and not spec["min"] <= number <= spec["max"]:
            unit = " %s" % spec["unit"] if spec["unit"] else ""
            return "%r is out of range %s..%s%s" % (value, _num(spec["min"]), _num(spec["max"]), unit)
    return None


def to_number(name, value):
    """``value`` of a numeric parameter in its base unit (float), or ``None`` when not numeric."""
    spec = PG_PARAMETERS.get(name.lower())
    if not spec or spec["type"] not in ("i", "r"):
        return None
    try:
        return _parse_number_with_unit(value, spec["unit"])
    except ValueError:
        return None


def is_known(name):
    return name.lower() in PG_PARAMETERS


def parse_bool(value):
    """PostgreSQL's reading of a boolean (any unambiguous prefix of on/off/true/false/yes/no/1/0)."""
    return _parse_bool(value)


def parse_number(value, unit):
    """``value`` (a number, or text with an optional unit) in ``unit`` (e.g. ``s``). Raises ValueError."""
    return _parse_number_with_unit(value, unit)


def _num(value):
    return ("%d" % value) if float(value).is_integer() else ("%g" % value)


def _unit_hint(unit):
    return "B, kB, MB, GB" if _BASE_UNITS.get(unit, ("", 0))[0] == "mem" else "ms, s, min, h, d"


def normalize_parameter(name, value):
    """A comparable form of a parameter value (``"128MB"`` == ``131072kB`` == ``16384``)."""
    if value is None:
        return None
    spec = PG_PARAMETERS.get(name.lower())
    try:
        if spec and spec["type"] == "b":
            return "on" if _parse_bool(value) else "off"
        if spec and spec["type"] in ("i", "r"):
            number = _parse_number_with_unit(value, spec["unit"])
            return int(number) if number == int(number) else number
        if spec and spec["type"] == "e":
            if isinstance(value, bool):
                return "on" if value else "off"
            return str(value).strip().lower()
    except ValueError:
        pass
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def is_restart_parameter(name):
    spec = PG_PARAMETERS.get(name.lower())
    return bool(spec and spec["context"] == "P")

