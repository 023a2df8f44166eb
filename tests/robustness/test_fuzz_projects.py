"""Fuzzed project files (hypothesis, 1,300 examples in all): loading and the summary only ever
give a result or the studio's typed error, never another exception and never a hang."""

from __future__ import annotations

import contextlib
import copy
import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from studio.cli.main import main
from studio.core.catalogue import layers as catalogue
from studio.core.errors import ProjectError, StudioError
from studio.core.model.shapes import infer_shapes
from studio.core.project.reading import MAX_NESTING, parse_project, parse_project_text
from tests.conftest import EXAMPLES, TEMPLATES

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
SEEDS = [json.loads(p.read_text()) for p in [*EXAMPLES, *TEMPLATES]]
LAYER_TYPES = sorted(catalogue.catalogue())

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2, 3, 7, 64, 10**9, 10**18]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=12))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)


def summarise(data) -> None:
    """What `studio summary` does with a project: load it, then infer every layer's shape."""
    try:
        project = parse_project(data)
        if project.model.input_shape is not None:
            report = infer_shapes(project.model)
            event(
                "shapes inferred"
                if report.error is None
                else f"layer error: {type(report.error).__name__}"
            )
        else:
            event("loaded (no input shape)")
    except StudioError as exc:
        event(f"refused: {type(exc).__name__}")


@FUZZ
@given(json_values)
def test_any_json_value_is_a_project_or_a_project_error(value):
    with contextlib.suppress(StudioError):
        parse_project_text(json.dumps(value, allow_nan=True))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_project_or_a_project_error(text):
    with contextlib.suppress(StudioError):
        parse_project_text(text)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


@FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_a_valid_project_with_one_value_replaced_gives_a_result_or_a_typed_error(seed, data):
    project = copy.deepcopy(seed)
    paths = list(_paths(project))[1:]
    path = data.draw(st.sampled_from(paths))
    replacement = data.draw(json_values)
    target = project
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    summarise(project)


@st.composite
def random_layer(draw):
    info = catalogue.get(draw(st.sampled_from(LAYER_TYPES)))
    names = [p.name for p in info.params] or ["bogus"]
    choices = [c for p in info.params for c in (p.choices or ())] or [None]
    plausible = st.one_of(
        json_values,
        st.integers(-2, 8),
        st.lists(st.integers(0, 6), max_size=3),
        st.sampled_from(choices),
        st.floats(0, 1),
    )
    args = draw(st.dictionaries(st.sampled_from(names), plausible, max_size=3))
    layer = {"type": info.type, "args": args}
    if info.container == "layers":
        layer = {
            "type": info.type,
            "layers": draw(st.lists(st.builds(lambda: {"type": "ReLU"}), max_size=2)),
        }
    elif info.container == "branches":
        layer = {
            "type": "Branch",
            "merge": draw(st.sampled_from(["concat", "add", "mul", "sum?"])),
            "branches": [[{"type": "Identity"}], [{"type": "Identity"}]],
        }
    return layer


@FUZZ
@given(
    st.lists(random_layer(), min_size=1, max_size=4),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=4),
)
def test_every_layer_with_random_arguments_gives_shapes_or_a_layer_error(layers, shape):
    summarise(
        {
            "studio": 1,
            "data": {"source": "digits"},
            "model": {"input_shape": shape, "layers": layers},
        }
    )


@pytest.mark.parametrize("depth", [50, 64, 65, 400, 5000])
def test_deep_nesting_is_answered_not_crashed(depth):
    """Containers nest up to MAX_NESTING levels; deeper is one ProjectError that says so, and a
    JSON text nested beyond what any parser takes says how deep it went."""
    layer = {"type": "ReLU"}
    for _ in range(depth):
        layer = {"type": "Sequential", "layers": [layer]}
    if depth < 900:
        project = {
            "studio": 1,
            "data": {"source": "digits"},
            "model": {"input_shape": [4], "layers": [layer]},
        }
        text = json.dumps(project)
    else:
        text = '{"studio": 1, "data": ' + "[" * 100000 + "]" * 100000 + "}"
    if depth <= MAX_NESTING:
        report = infer_shapes(parse_project_text(text).model)
        assert report.error is None and report.output_shape == [4]
        return
    with pytest.raises(ProjectError) as refused:
        parse_project_text(text)
    if depth < 900:
        assert refused.value.path == "model.layers[0]"
        assert f"nested too deeply: more than {MAX_NESTING} levels" in str(refused.value)
    else:
        assert "nested too deeply to be a project (100,001 levels)" in str(refused.value)


def test_summary_command_answers_huge_and_unicode_values_in_one_line(write_project, capsys):
    project = {
        "studio": 1,
        "name": "Ünïcödé 模型 🚀",
        "data": {"source": "digits"},
        "model": {
            "input_shape": [1, 8, 8],
            "layers": [{"type": "Flatten"}, {"type": "Linear", "args": {"out_features": 10**30}}],
        },
    }
    assert main(["summary", str(write_project(project))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("model.layers[1]" in err or "layer 1" in err), err
