"""Stage kinds: declared in workflow.yaml, written by the builders, defaulted for older specs."""
import pytest

from artworkflow.config import StageSpec, WorkflowSpec
from artworkflow.data.toy import toy_spec
from artworkflow.errors import ConfigError


def test_kinds_default_for_specs_without_them():
    spec = WorkflowSpec.from_dict({"stages": [{"name": "a", "channels": 1}, {"name": "b"}, {"name": "c"},
                                              {"name": "d"}]})
    assert spec.kinds == ["line", "region", "smooth", "smooth"]
    assert all("kind" not in s for s in spec.to_dict()["stages"])


def test_declared_kinds_round_trip_and_bad_kind_is_refused():
    spec = WorkflowSpec.from_dict({"stages": [{"name": "a", "channels": 1, "kind": "line"},
                                              {"name": "b", "kind": "smooth"}]})
    assert spec.kinds == ["line", "smooth"]
    assert WorkflowSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ConfigError, match="kind is 'shiny'"):
        WorkflowSpec.from_dict({"stages": [{"name": "a", "kind": "shiny"}, {"name": "b"}]})


def test_kinds_do_not_change_which_stages_match():
    old = WorkflowSpec("w", (StageSpec("a", 1), StageSpec("b", 3)))
    new = WorkflowSpec("w", (StageSpec("a", 1, "line"), StageSpec("b", 3, "region")))
    assert old.same_stages(new) and not old.same_stages(WorkflowSpec("w", (StageSpec("a", 1), StageSpec("c", 3))))


def test_builders_write_kinds():
    assert [s.kind for s in toy_spec(4).stages] == ["line", "region", "smooth", "smooth"]
