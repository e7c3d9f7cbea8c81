"""A job's folder is always inside WORKSPACE_ROOT, whatever its workspace column says."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.config import Settings
from tasks.engine.claim import workspace_dir


def _job(workspace):
    return SimpleNamespace(id="0b1c", workspace=workspace)


def test_own_and_child_folders_stay_under_the_root(tmp_path):
    settings = Settings(legato_data_dir=tmp_path)
    root = settings.workspaces_dir
    assert workspace_dir(settings, _job(None)) == root / "0b1c"
    assert workspace_dir(settings, _job("parent/subtasks/2")) == (root / "parent/subtasks/2")


@pytest.mark.parametrize("escape", ["/", "/etc", "../elsewhere", "a/../../b"])
def test_a_folder_outside_the_root_is_refused(tmp_path, escape):
    settings = Settings(legato_data_dir=tmp_path)
    with pytest.raises(ValueError, match="outside WORKSPACE_ROOT"):
        workspace_dir(settings, _job(escape))
