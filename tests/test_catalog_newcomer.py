"""What a newcomer hit in the catalogs and the `nodecat catalog` commands, pinned.

1. `catalog show` finds a node by id, alias or short name (`Conv2d`, `nn.Conv2d`) in the torch and
   Keras catalogs; an ambiguous short name lists the candidates; nothing matching suggests close
   ids; never a `pip install` hint for something that is no library nodecat crawls.
2. Summaries are whole sentences (the first paragraph, not its first line), and what editors show
   (summary, argument and port docs, palette tooltips) is plain text; the library's markup stays in
   `summary_raw` / `doc_raw`.
3. Integer size and count arguments have a lower bound, with its provenance.
4. `catalog list --category` refuses an unknown category; `--categories` lists them with counts.

The new modules are imported inside the tests that need them, so each test fails on its own.
"""
from __future__ import annotations

import inspect
import json
import re
from typing import Any

import pytest

from nodecat.introspector.build import catalog_path_for, load_catalog
from nodecat.introspector.model import Arg, Catalog, InputPort, Node, OutputPort

MARKUP = re.compile(r"``|:math:`|:(class|func|attr|meth|mod|obj|ref):`|\\(text|frac|mathcal|sqrt)\b")


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    return {lib: load_catalog(catalog_path_for(lib)) for lib in ("torch", "keras")}


def node_of(catalogs: dict[str, Catalog], node_id: str) -> Node:
    node = catalogs[node_id.split(".")[0]].find(node_id)
    assert node is not None, node_id
    return node


def arg_of(catalogs: dict[str, Catalog], node_id: str, name: str) -> Arg:
    arg = node_of(catalogs, node_id).arg(name)
    assert arg is not None, (node_id, name)
    return arg


def integer_minimums(schema: Any) -> list[Any]:
    """The minimum of every integer member of a schema (None where it has none)."""
    if not isinstance(schema, dict):
        return []
    found = [schema.get("minimum", schema.get("exclusiveMinimum"))] if schema.get("type") == "integer" else []
    for sub in schema.get("anyOf", ()):
        found += integer_minimums(sub)
    return found + integer_minimums(schema.get("items"))


# --- 1. catalog show --------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("Conv2d", "torch.nn.Conv2d"),                      # a unique short name
    ("nn.Conv2d", "torch.nn.Conv2d"),                   # a partial path
    ("torch.nn.Conv2d", "torch.nn.Conv2d"),             # the id
    ("torch.nn.functional.conv2d", "torch.conv2d"),     # an alias
    ("functional.conv2d", "torch.conv2d"),              # the end of an alias
    ("Dense", "keras.layers.Dense"),                    # found in the Keras catalog without --library
    ("dense", "keras.layers.Dense"),                    # unique when case is ignored
])
def test_show_finds_a_node_by_id_alias_or_short_name(invoke, name: str, expected: str) -> None:
    result = invoke("catalog", "show", name, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == expected
    text = invoke("catalog", "show", name)
    assert text.exit_code == 0 and text.output.startswith(f"{expected}  [")


def test_show_library_option_narrows_a_short_name(invoke) -> None:
    result = invoke("catalog", "show", "relu", "--library", "keras", "--json")
    assert result.exit_code == 2
    (error,) = json.loads(result.stdout)["errors"]
    assert error["code"] == "ambiguous_node" and error["candidates"] == ["keras.activations.relu", "keras.ops.relu"]


def test_show_ambiguous_short_name_lists_the_candidates(invoke) -> None:
    result = invoke("catalog", "show", "relu")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    for candidate in ("torch.nn.functional.relu", "keras.activations.relu", "keras.ops.relu"):
        assert candidate in lines[0]
    as_json = invoke("catalog", "show", "relu", "--json")
    assert as_json.exit_code == 2
    document = json.loads(as_json.stdout)
    assert document["ok"] is False
    (error,) = document["errors"]
    assert error["code"] == "ambiguous_node"
    assert {"torch.nn.functional.relu", "keras.activations.relu", "keras.ops.relu"} <= set(error["candidates"])


@pytest.mark.parametrize("name", ["Conv4d", "nn.Conv4d", "torch.nn.Conv4d"])
def test_show_unknown_name_suggests_close_ids_and_no_pip(invoke, name: str) -> None:
    result = invoke("catalog", "show", name)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "did you mean" in lines[0] and "torch.nn.Conv2d" in lines[0]
    assert "pip install" not in result.output
    as_json = invoke("catalog", "show", name, "--json")
    assert as_json.exit_code == 2
    (error,) = json.loads(as_json.stdout)["errors"]
    assert error["code"] == "unknown_node" and "torch.nn.Conv2d" in error["candidates"]
    assert "pip install" not in error["hint"]


def test_show_a_library_nodecat_does_not_crawl_is_no_pip_hint(invoke) -> None:
    result = invoke("catalog", "show", "tensorflow.keras.layers.Dense")
    assert result.exit_code == 2
    assert "pip install" not in result.output
    assert "keras.layers.Dense" in result.stderr


def test_not_installed_hint_names_only_crawled_libraries() -> None:
    from nodecat.introspector.build import installed_version
    from nodecat.introspector.errors import CatalogError
    with pytest.raises(CatalogError) as caught:
        installed_version("nn")
    assert "pip install" not in str(caught.value)
    assert "torch" in caught.value.problems[0].hint


# --- 2. summaries and plain text ----------------------------------------------------------------

@pytest.mark.parametrize("node_id, summary", [
    ("torch.nn.Conv2d", "Applies a 2D convolution over an input signal composed of several input planes."),
    ("torch.conv2d", "Applies a 2D convolution over an input image composed of several input planes."),
    ("torch.chunk", "Attempts to split a tensor into the specified number of chunks. "
                    "Each chunk is a view of the input tensor."),
    ("torch.nn.functional.celu", "Applies element-wise, CELU(x) = max(0,x) + min(0, α * (exp(x/α) - 1))."),
    ("torch.nn.HuberLoss", "Creates a criterion that uses a squared term if the absolute element-wise error "
                           "falls below delta and a delta-scaled L1 term otherwise."),
    ("torch.nn.BCELoss", "Creates a criterion that measures the Binary Cross Entropy between the target and "
                         "the input probabilities."),
    ("keras.metrics.KLDivergence", "Computes Kullback-Leibler divergence metric between y_true and y_pred."),
    ("keras.layers.RandomShear", "A preprocessing layer that randomly applies shear transformations to images."),
    ("keras.metrics.AUC", "Approximates the AUC (Area under the curve) of the ROC or PR curves."),
])
def test_summary_is_whole_sentences_in_plain_text(catalogs: dict[str, Catalog], node_id: str, summary: str) -> None:
    assert node_of(catalogs, node_id).summary == summary


def test_raw_text_is_kept_beside_the_plain_text(catalogs: dict[str, Catalog]) -> None:
    shuffle = node_of(catalogs, "torch.channel_shuffle")
    assert ":math:`(*, C , H, W)`" in shuffle.summary_raw and "(*, C , H, W)" in shuffle.summary
    padding_mode = arg_of(catalogs, "torch.nn.Conv2d", "padding_mode")
    assert padding_mode.doc == "'zeros', 'reflect', 'replicate' or 'circular'. Default: 'zeros'"
    assert padding_mode.doc_raw.startswith("``'zeros'``")
    bias = arg_of(catalogs, "torch.nn.Conv2d", "bias")
    assert ":attr:`bias`" in bias.doc_raw and "If bias is True" in bias.doc
    assert node_of(catalogs, "torch.nn.Conv2d").summary_raw == ""  # no markup: no copy


def test_nothing_editors_show_carries_markup(catalogs: dict[str, Catalog]) -> None:
    from nodecat.introspector.markup import plain_text
    marked = []
    for catalog in catalogs.values():
        for node in catalog.nodes:
            texts = [("summary", node.summary)] + [(f"arg {a.name}", a.doc) for a in node.args] \
                + [(f"input {p.name}", p.doc) for p in node.inputs] + [(f"output {p.name}", p.doc) for p in node.outputs]
            marked += [(node.id, where) for where, text in texts if MARKUP.search(text) or plain_text(text) != text]
    assert marked == []


def test_raw_fields_are_in_the_node_schema(catalogs: dict[str, Catalog]) -> None:
    from helpers import schema_validator
    validator = schema_validator("node")
    node = node_of(catalogs, "torch.channel_shuffle").to_json()
    assert "summary_raw" in node and list(validator.iter_errors(node)) == []
    assert list(validator.iter_errors({**node, "summary_raw": 3})) != []


@pytest.mark.parametrize("raw, plain", [
    ("``'zeros'``, ``'reflect'``", "'zeros', 'reflect'"),
    ("See :class:`~torch.nn.ChannelShuffle` and :func:`torch.relu`.", "See ChannelShuffle and torch.relu."),
    ("size :math:`(N, C_{\\text{in}}, H, W)`", "size (N, C_in, H, W)"),
    (":math:`\\text{Softplus}(x) = \\frac{1}{\\beta} * \\log(1 + \\exp(\\beta * x))`",
     "Softplus(x) = 1/β * log(1 + exp(β * x))"),
    (":math:`0 \\leq y \\leq \\text{x.size}(1)-1`", "0 ≤ y ≤ x.size(1)-1"),
    ("see `Huber loss <https://en.wikipedia.org/wiki/Huber_loss>`_ and `Fast R-CNN`_", "see Huber loss and Fast R-CNN"),
    ("Whether to use [Batch Renormalization](https://arxiv.org/abs/1702.03275).", "Whether to use Batch Renormalization."),
    ('string, either `"valid"` or `"same"`.', 'string, either "valid" or "same".'),
    ("Default: False. .. warning:: be careful", "Default: False. Warning: be careful"),
    (".. versionchanged:: 2.0 dim now accepts tuples", "Changed in version 2.0: dim now accepts tuples"),
    ("*args and **kwargs, `block_size ** 2`, *not* this", "*args and **kwargs, block_size ** 2, not this"),
])
def test_plain_text(raw: str, plain: str) -> None:
    from nodecat.introspector.markup import plain_text
    assert plain_text(raw) == plain
    assert plain_text(plain) == plain


def _doc(text: str) -> Any:
    def documented() -> None:
        pass
    documented.__doc__ = text
    return documented


@pytest.mark.parametrize("docstring, summary", [
    ("Applies a convolution over an input\n    composed of several planes.\n\n    More text.\n",
     "Applies a convolution over an input composed of several planes."),
    ("Applies element-wise,\n:math:`f(x) = x`.\n\nMore.", "Applies element-wise, :math:`f(x) = x`."),
    ("Measures it (e.g. the L1 distance). It is used for\nembeddings.\n", "Measures it (e.g. the L1 distance). It is used for embeddings."),
    ("Creates a criterion between x and y. For each sample in\nthe batch:\n\n.. math:: x", "Creates a criterion between x and y."),
    ("Creates a criterion between x and y:\n\n.. math:: x", "Creates a criterion between x and y."),
    ("First sentence is short. " + "Second sentence is long " * 20 + ".\n", "First sentence is short."),
])
def test_summary_is_the_first_paragraph_in_whole_sentences(docstring: str, summary: str) -> None:
    from nodecat.introspector.docs import read_doc
    assert read_doc(_doc(docstring)).summary == summary


def test_an_unreadable_section_keeps_summary_and_whole_arg_docs() -> None:
    from nodecat.introspector.docs import read_doc
    doc = read_doc(_doc(inspect.cleandoc("""Approximates the AUC.

        Note: it is (not: a section) and more
        `update_state`) are probabilities or logits. As a rule,

        Args:
            num_thresholds: (Optional) The number of thresholds to
                use when discretizing. Values must be > 1.
            curve: (Optional) The curve.
        """)))
    assert doc.summary == "Approximates the AUC."
    assert doc.args["num_thresholds"].description == \
        "(Optional) The number of thresholds to use when discretizing. Values must be > 1."


def test_palette_tooltips_are_plain_text_even_from_an_older_catalog() -> None:
    from nodecat.introspector.export_palette import comfyui_node, litegraph_node
    node = Node(id="lib.op", library="lib", name="op", origin_module="lib", origin_qualname="op", kind="function",
                category="things", summary="Applies :math:`\\text{ReLU}(x)` to :attr:`input`.",
                call={"instantiate": False, "apply": True, "copy": False},
                inputs=(InputPort("input", doc="the ``input`` tensor"),),
                outputs=(OutputPort("output", doc=":class:`~torch.Tensor`"),),
                args=(Arg("mode", default="a", schema={"enum": ["a", "b"]}, doc="``'a'`` or ``'b'``"),))
    comfy = comfyui_node(node)
    assert comfy["description"] == "Applies ReLU(x) to input."
    assert comfy["input"]["required"]["input"][1]["tooltip"] == "the input tensor"
    assert comfy["input"]["required"]["mode"][1]["tooltip"] == "'a' or 'b'"
    assert comfy["output_tooltips"] == ["Tensor"]
    lite = litegraph_node(node)
    assert lite["desc"] == "Applies ReLU(x) to input."
    assert lite["widgets"][0]["options"]["tooltip"] == "'a' or 'b'"


def test_exported_palettes_carry_no_markup(catalogs: dict[str, Catalog]) -> None:
    from nodecat.introspector.export_palette import comfyui_object_info
    info = comfyui_object_info(catalogs["torch"])
    conv = info["torch.nn.Conv2d"]
    assert conv["description"] == "Applies a 2D convolution over an input signal composed of several input planes."
    texts = [d["description"] for d in info.values()] + [
        spec[1].get("tooltip", "") for d in info.values() for section in d["input"].values() for spec in section.values()]
    assert [t for t in texts if MARKUP.search(t)] == []


# --- 3. lower bounds of size arguments -------------------------------------------------------

@pytest.mark.parametrize("node_id, name, minimum, source", [
    ("torch.nn.Conv2d", "in_channels", 1, "convention"),
    ("torch.nn.Conv2d", "out_channels", 1, "convention"),
    ("torch.nn.Conv2d", "kernel_size", 1, "convention"),
    ("torch.nn.Conv2d", "stride", 1, "convention"),
    ("torch.nn.Linear", "out_features", 1, "convention"),
    ("torch.nn.BatchNorm2d", "num_features", 1, "convention"),
    ("torch.nn.GRUCell", "hidden_size", 1, "convention"),
    ("torch.nn.Embedding", "embedding_dim", 1, "convention"),
    ("torch.nn.Bilinear", "in1_features", 1, "docstring"),        # 'must be > 0'
    ("torch.nn.MaxPool1d", "padding", 0, "docstring"),            # 'must be >= 0 and <= kernel_size / 2'
    ("torch.narrow", "length", 0, "docstring"),                   # 'must be weakly positive'
    ("torch.nn.LSTM", "proj_size", 0, "convention"),              # default 0: 'If > 0, ...'
    ("keras.layers.Dense", "lora_rank", 1, "convention"),
    ("keras.metrics.AUC", "num_thresholds", 2, "docstring"),      # 'Values must be > 1'
    ("keras.metrics.R2Score", "num_regressors", 0, "convention"),  # '0 is the standard R2 score'
    ("keras.layers.IntegerLookup", "num_oov_indices", 0, "convention"),  # 'If this value is 0, ...'
])
def test_size_arguments_have_a_minimum_with_provenance(catalogs: dict[str, Catalog], node_id: str, name: str,
                                                       minimum: int, source: str) -> None:
    arg = arg_of(catalogs, node_id, name)
    assert set(integer_minimums(arg.schema)) == {minimum}
    assert arg.provenance == {"minimum": source}
    assert arg.to_json()["provenance"] == {"minimum": source}


@pytest.mark.parametrize("node_id, name, minimum", [
    ("torch.optim.lr_scheduler.CosineAnnealingWarmRestarts", "T_0", 1),
    ("torch.optim.lr_scheduler.StepLR", "step_size", 1),
    ("torch.chunk", "chunks", 1),
    ("torch.topk", "k", 0),
    ("torch.nn.functional.one_hot", "num_classes", -1),
    ("keras.layers.RepeatVector", "n", 1),
    ("keras.layers.UpSampling2D", "size", 1),
])
def test_the_rest_are_overrides_with_a_reason(catalogs: dict[str, Catalog], node_id: str, name: str,
                                              minimum: int) -> None:
    from nodecat.introspector.overrides import load_overrides
    from nodecat.introspector.paths import overrides_file
    arg = arg_of(catalogs, node_id, name)
    assert set(integer_minimums(arg.schema)) == {minimum} and arg.source == "override"
    library = node_id.split(".")[0]
    entry = next(e for e in load_overrides(overrides_file(library), library).entries
                 if (e.target, e.arg) == (node_id, name))
    assert len(entry.why) > 40


def test_no_size_argument_is_left_without_a_minimum(catalogs: dict[str, Catalog]) -> None:
    from nodecat.introspector.bounds import unbounded_size_args
    from nodecat.introspector.stats import catalog_stats
    for catalog in catalogs.values():
        args = [a for n in catalog.nodes for a in n.args]
        assert [a.name for a in unbounded_size_args(args)] == []
        stats = catalog_stats(catalog, 0, 0)
        assert stats["size_args_without_minimum"] == 0
        assert stats["args_minimum_inferred"]["convention"] > 100


def test_number_widgets_start_at_the_minimum(catalogs: dict[str, Catalog]) -> None:
    from nodecat.introspector.export_palette import comfyui_node
    conv = comfyui_node(node_of(catalogs, "torch.nn.Conv2d"))["input"]["required"]
    assert conv["in_channels"][0] == "INT" and conv["in_channels"][1]["min"] == 1
    linear = comfyui_node(node_of(catalogs, "torch.nn.Linear"))["input"]["required"]
    assert linear["out_features"][1]["min"] == 1


@pytest.mark.parametrize("doc, minimum", [
    ("size of each first input sample, must be > 0", 1),
    ("Must be an odd integer >= 1.", 1),
    ("length of the narrowed dimension, must be weakly positive", 0),
    ("Values must be > 1.", 2),
    ("A Python integer. Must be positive.", 1),
    ("Must be non-negative.", 0),
    ("the size of the window", None),
    ("must be > 0.5", None),
])
def test_doc_minimum(doc: str, minimum: int | None) -> None:
    from nodecat.introspector.bounds import doc_minimum
    assert doc_minimum(doc) == minimum


@pytest.mark.parametrize("name, doc, default, minimum", [
    ("in_channels", "Number of channels in the input image", inspect.Parameter.empty, 1),
    ("proj_size", "If ``> 0``, will use LSTM with projections", 0, 0),
    ("num_classes", "If set to -1, the number of classes will be inferred", -1, None),
    ("num_regressors", "0 is the standard R2 score.", None, 0),
    ("dim", "the dimension to reduce", None, None),        # an axis, not a size
    ("start_dim", "the first dim to flatten", 1, None),
    ("padding", "implicit paddings on both sides", 0, None),  # negative padding crops in torch's pad layers
])
def test_convention_minimum(name: str, doc: str, default: Any, minimum: int | None) -> None:
    from nodecat.introspector.bounds import convention_minimum
    assert convention_minimum(name, doc, default) == minimum


def test_with_minimum_keeps_existing_bounds_and_bounds_tuple_items() -> None:
    from nodecat.introspector.bounds import with_minimum
    pair = {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}, "minItems": 2}]}
    bounded, source = with_minimum("kernel_size", pair, "the size of the window", inspect.Parameter.empty)
    assert source == "convention" and integer_minimums(bounded) == [1, 1]
    assert pair["anyOf"][0] == {"type": "integer"}  # the input is not modified
    assert with_minimum("units", {"type": "integer", "minimum": 5}, "", 8) == ({"type": "integer", "minimum": 5}, "")
    assert with_minimum("stride", {"type": "integer"}, "", 0) == ({"type": "integer", "minimum": 0}, "convention")
    # a bound the library's own default breaks is not the library's bound
    assert with_minimum("alpha", {"type": "integer"}, "must be > 0", 0) == ({"type": "integer"}, "")


# --- 4. categories ---------------------------------------------------------------------------

def test_unknown_category_is_an_error_with_suggestions(invoke) -> None:
    result = invoke("catalog", "list", "torch", "--category", "los")
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "no category 'los'" in line and "did you mean loss?" in line and "functional/loss" in line
    nonsense = invoke("catalog", "list", "--category", "nonsense", "--json")
    assert nonsense.exit_code == 2
    (error,) = json.loads(nonsense.stdout)["errors"]
    assert error["code"] == "unknown_category" and "known: activation" in error["hint"]


def test_categories_are_listed_with_counts(invoke, catalogs: dict[str, Catalog]) -> None:
    for library in ("torch", "keras"):
        result = invoke("catalog", "list", library, "--categories", "--json")
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)
        counts = {r["category"]: r["nodes"] for r in rows}
        nodes = catalogs[library].nodes
        assert set(counts) >= {n.category for n in nodes}
        for category, count in counts.items():
            listed = json.loads(invoke("catalog", "list", library, "--category", category, "--json").stdout)
            assert len(listed) == count, category
    text = invoke("catalog", "list", "torch", "--categories")
    assert text.exit_code == 0
    lines = dict(line.split() for line in text.output.splitlines())
    assert int(lines["functional"]) == sum(int(v) for k, v in lines.items() if k.startswith("functional/"))
