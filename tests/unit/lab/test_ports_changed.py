"""tests/lab/lab.py keeps some generated files across starts (HAProxy's config and server state, nginx's
upstream files): they must be made again whenever they may belong to other ports."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

LAB_PY = Path(__file__).resolve().parents[2] / "lab" / "lab.py"


@pytest.fixture(scope="module")
def lab():
    spec = importlib.util.spec_from_file_location("lab_under_test", LAB_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


PORTS = {"haproxy": 18080, "app_blue": 18081}


def test_same_ports_keep_the_files(lab, tmp_path):
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("made for 18080")
    (tmp_path / "ports.json").write_text(json.dumps(PORTS))
    assert lab.ports_changed(tmp_path, PORTS, cfg) is False
    assert cfg.exists()


def test_other_ports_remove_the_files(lab, tmp_path):
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("made for 18380")
    (tmp_path / "ports.json").write_text(json.dumps({"haproxy": 18380, "app_blue": 18381}))
    assert lab.ports_changed(tmp_path, PORTS, cfg) is True
    assert not cfg.exists()
    assert json.loads((tmp_path / "ports.json").read_text()) == PORTS


def test_a_new_port_is_not_a_change_of_the_others(lab, tmp_path):
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("made before JP")
    (tmp_path / "ports.json").write_text(json.dumps({"haproxy": 18080}))
    assert lab.ports_changed(tmp_path, PORTS, cfg) is False
    assert cfg.exists()


@pytest.mark.parametrize("record", [None, "not json"])
def test_files_without_a_readable_record_are_made_again(lab, tmp_path, record):
    """A config left by a lab that kept no record (or a torn one) may be for any ports: HAProxy would listen
    on the old ones and the lab would wait 90 s for a port nothing binds."""
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("made for who knows")
    if record is not None:
        (tmp_path / "ports.json").write_text(record)
    assert lab.ports_changed(tmp_path, PORTS, cfg) is True
    assert not cfg.exists()


def test_first_start_has_nothing_to_remove(lab, tmp_path):
    assert lab.ports_changed(tmp_path, PORTS, tmp_path / "haproxy.cfg") is False
    assert (tmp_path / "ports.json").exists()
