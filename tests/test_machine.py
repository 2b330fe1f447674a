"""What a result row records of where and from what code it was made (machine.py): the device precisely enough
to tell a CPU with native bf16, an AVX2-only CPU and a GPU apart, and the commit with the tree's state."""

from __future__ import annotations

import platform
import subprocess

import torch

from ksac_cli import machine


def git(folder, *args):
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


def test_git_state_says_clean_dirty_with_a_digest_of_the_diff_or_unknown(tmp_path):
    assert machine.code_state(tmp_path) == {"git_commit": "unknown", "git_state": "unknown"}
    git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git(tmp_path, "add", "a.py")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    code = machine.code_state(tmp_path)
    assert code["git_state"] == "clean" and len(code["git_commit"]) >= 7
    (tmp_path / "a.py").write_text("x = 2\n")
    first = machine.code_state(tmp_path)["git_state"]
    (tmp_path / "a.py").write_text("x = 3\n")
    second = machine.code_state(tmp_path)["git_state"]
    assert first.startswith("dirty ") and second.startswith("dirty ") and first != second
    assert len(first.split()[1]) == 12


def test_a_folder_inside_a_checkout_is_not_that_checkout(tmp_path):
    """An installed package (site-packages inside some repository) records no commit of that repository."""
    git(tmp_path, "init", "-q")
    inner = tmp_path / "venv" / "site-packages"
    inner.mkdir(parents=True)
    assert machine.code_state(inner) == {"git_commit": "unknown", "git_state": "unknown"}


def test_the_cpu_is_named_with_its_model_threads_and_instruction_set():
    name = machine.device_name(torch.device("cpu"))
    assert name.startswith(f"cpu ({machine.cpu_model()}, {torch.get_num_threads()} threads, {platform.machine()} ")
    assert torch.backends.cpu.get_cpu_capability() in name
    assert ("native bf16" in name) == machine.native_bf16(torch.device("cpu"))


def test_provenance_has_the_tree_state():
    record = machine.provenance(torch.device("cpu"))
    assert {"git_commit", "git_state", "device", "torch_version"} <= set(record)
