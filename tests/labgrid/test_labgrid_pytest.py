"""The pytest plugin over labgrid's own plugin: serialsync_group from --lg-env, the test a member."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import need, shell_driver

pytestmark = pytest.mark.slow


def test_labgrid_env_makes_the_plugins_group(pytester, pty_board, tcp_board):
    boards = {"server1": pty_board("server1"), "client1": pty_board("client1"), "client2": tcp_board("client2")}
    targets = []
    for name, board in boards.items():
        if board.port is not None:
            resource = f'RawSerialPort: {{port: "{board.port}", speed: 115200}}'
        else:
            resource = f"NetworkSerialPort: {{host: 127.0.0.1, port: {board.tcp}, protocol: raw}}"
        role = "server" if name == "server1" else "client"
        targets.append(
            f"  {name}:\n    resources:\n      {resource}\n    drivers:\n      SerialDriver: {{}}\n"
            f"      SerialsyncDriver: {{role: {role}}}\n      {shell_driver()}\n"
        )
    (pytester.path / "env.yaml").write_text("imports: [serialsync.labgrid]\ntargets:\n" + "".join(targets))
    pytester.makepyfile(
        """
from serialsync.boards import values

def test_group(serialsync_group, serialsync_host, env):
    shell = env.get_target("client1").get_driver("ShellDriver")   # labgrid's own fixture and driver
    clients = [serialsync_group[n].start("lava-wait address && lava-send ready who=$(lava-self) && lava-sync go")
               for n in ("client1", "client2")]
    serialsync_host.send("address", ip="10.1.2.3")
    assert sorted(values(serialsync_host.wait_all("ready", role="client", timeout=30), "who")) == ["client1", "client2"]
    running = serialsync_group["server1"].start("lava-sync go")
    serialsync_host.sync("go", timeout=30)
    assert running.wait(30).ok and all(c.wait(30).ok for c in clients)
    out, _, status = shell.run('cat "$LAVA_MULTI_NODE_CACHE"')
    assert status == 0 and out == ["host:ip=10.1.2.3"], out

def test_fails(serialsync_group):
    serialsync_group["client2"].run("echo client2-was-here")
    assert False
"""
    )
    result = pytester.runpytest_subprocess(
        "--lg-env", str(pytester.path / "env.yaml"), f"--junitxml={pytester.path / 'r.xml'}"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*serialsync console client2*", "*client2-was-here*"])
    xml = (pytester.path / "r.xml").read_text()
    assert "host: lava-sync go: ok" in xml and "client1: lava-wait address: ok" in xml


def test_labgrid_example_runs_with_its_documented_command(pytester):
    need("socat", "socat")
    need("busybox", "busybox")
    example = Path(__file__).resolve().parents[2] / "examples" / "labgrid"
    result = pytester.runpytest_subprocess(
        str(example), "--lg-env", str(example / "env.yaml"), "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
