"""The closed vocabularies of graphs and the executor, in one place.

Error codes are a stable contract: tools match on them, so a code is never renamed,
only added. The README lists each with its meaning.
"""
from __future__ import annotations

from typing import Literal, get_args

GRAPH_FORMAT = "nodecat-graph/1"

# Ops every graph may use besides the catalog's nodes.
BuiltinOp = Literal["input", "constant"]
BUILTIN_OPS: tuple[str, ...] = get_args(BuiltinOp)

# Kinds of catalog node a graph may place (optimizers and schedulers belong to training).
GRAPH_KINDS = ("layer", "function", "loss")

ErrorCode = Literal[
    # reading the file
    "file_not_found", "too_large", "bad_encoding", "bad_json", "too_deep", "schema",
    # catalogs
    "unknown_library", "undeclared_library", "no_catalog", "version_mismatch",
    # nodes and arguments
    "duplicate_node", "reserved_id", "unknown_op", "excluded_op", "unsupported_kind",
    "unknown_arg", "missing_required_arg", "bad_arg_value", "hidden_arg", "untyped_arg",
    "arg_needs_edge", "arg_set_twice", "too_many_elements",
    # edges and outputs
    "dangling_edge", "unknown_port", "port_taken", "too_many_connections", "too_few_connections",
    "missing_input", "port_type_mismatch", "arg_not_edge", "not_a_module", "module_node_applied",
    "cycle", "duplicate_output", "mixed_keras_graph",
    # resolving, shapes, building and running
    "identity_mismatch", "shape_mismatch", "budget_exceeded", "device_unavailable",
    "bad_input_value", "missing_graph_input", "unknown_graph_input", "bad_weights", "node_failed",
    # the train section
    "no_train_section", "wrong_kind", "wrong_library", "unknown_graph_output", "unknown_loss_port",
    "missing_loss_input", "metric_needs_target",
    # training data
    "path_outside_roots", "bad_data", "empty_data", "unknown_column", "data_mismatch",
    # training runs and checkpoints
    "loss_not_finite", "no_checkpoint", "bad_checkpoint", "out_dir_in_use", "unsupported_training",
    "training_failed", "resume_mismatch",
    # importing models and exporting graphs
    "bad_target", "import_failed", "unmappable_call", "bad_input_spec", "export_failed",
    "unsupported_export",
    # the execution server (nodecat serve)
    "unauthorized", "not_found", "body_too_large", "bad_request", "job_state", "internal_error",
    "unknown_node", "ambiguous_node", "not_installed",
]
ERROR_CODES: tuple[str, ...] = get_args(ErrorCode)

DType = Literal["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
                "uint8", "bool"]
DTYPES: tuple[str, ...] = get_args(DType)

# Metrics every training run can report, computed the same way for torch and Keras graphs.
# accuracy: the arg-max of the prediction against an integer class target (or against the arg-max of
# a one-hot target of the prediction's shape); mae and mse: mean absolute and squared error.
MetricName = Literal["accuracy", "mae", "mse"]
METRIC_NAMES: tuple[str, ...] = get_args(MetricName)

# When a learning-rate schedule steps: after every epoch, or after every optimizer step.
ScheduleStep = Literal["epoch", "step"]
SCHEDULE_STEPS: tuple[str, ...] = get_args(ScheduleStep)

# Data files a training run reads, by suffix.
DATA_SUFFIXES = (".npz", ".npy", ".csv")
MAX_DATA_BYTES = 8 * 1024 ** 3  # a larger file is refused before it is read

# Limits of the strict loader: a graph file from anyone cannot exhaust memory or the stack.
MAX_GRAPH_BYTES = 64 * 1024 * 1024
MAX_NESTING = 64
MAX_CONSTANT_ELEMENTS = 1_000_000

# Names a node's submodule or buffer cannot have in the built torch module: Python keywords and the
# attributes of torch.fx.GraphModule (class or instance; tests check this list). A node with such an
# id is still valid: inside the module its attribute gets another name, while its weights and
# everything a user sees keep the id (nodecat.executor.build.names). The code `reserved_id` is
# no longer produced; codes are never removed.
RESERVED_IDS = frozenset((
    'False', 'None', 'T_destination', 'True', 'add_module', 'add_submodule', 'and', 'apply', 'as',
    'assert', 'async', 'await', 'bfloat16', 'break', 'buffers', 'call_super_init', 'children',
    'class', 'code', 'compile', 'continue', 'cpu', 'cuda', 'def', 'del',
    'delete_all_unused_submodules', 'delete_submodule', 'double', 'dump_patches', 'elif', 'else',
    'eval', 'except', 'extra_repr', 'finally', 'float', 'for', 'forward', 'from', 'get_buffer',
    'get_extra_state', 'get_parameter', 'get_submodule', 'global', 'graph', 'half', 'if', 'import',
    'in', 'input_names', 'ipu', 'is', 'lambda', 'load_state_dict', 'meta', 'modules', 'mtia',
    'named_buffers', 'named_children', 'named_modules', 'named_parameters', 'nonlocal', 'not', 'or',
    'output_names', 'parameters', 'pass', 'print_readable', 'raise', 'recompile',
    'register_backward_hook', 'register_buffer', 'register_forward_hook',
    'register_forward_pre_hook', 'register_full_backward_hook', 'register_full_backward_pre_hook',
    'register_load_state_dict_post_hook', 'register_load_state_dict_pre_hook', 'register_module',
    'register_parameter', 'register_state_dict_post_hook', 'register_state_dict_pre_hook',
    'requires_grad_', 'return', 'set_extra_state', 'set_submodule', 'shape_env', 'share_memory', 'state_dict',
    'to', 'to_empty', 'to_folder', 'train', 'training', 'try', 'type', 'while', 'with', 'xpu',
    'yield', 'zero_grad',
))
