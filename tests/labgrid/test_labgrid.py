"""labgrid's real drivers (SerialDriver, ShellDriver) on real console resources, markers served by serialsync."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from conftest import shell_driver
from labgrid import Environment

from serialsync.boards import values
from serialsync.labgrid import SerialsyncDriver, labgrid_group

pytestmark = pytest.mark.slow


def three_boards_env(pty_board, tcp_board, write_env, *, install: bool = False, typed_dir: str = ""):
    server = pty_board("server1")
    client1 = pty_board("client1")
    client2 = tcp_board("client2", helpers=not install)
    shell = shell_driver()
    return write_env(
        f"""
imports: [serialsync.labgrid]
targets:
  server1:
    resources:
      RawSerialPort: {{port: "{server.port}", speed: 115200}}
    drivers:
      SerialDriver: {{}}
      SerialsyncDriver: {{role: server}}
      {shell}
  client1:
    resources:
      RawSerialPort: {{port: "{client1.port}", speed: 115200}}
    drivers:
      SerialDriver: {{}}
      SerialsyncDriver: {{role: client}}
      {shell}
  client2:
    resources:
      NetworkSerialPort: {{host: 127.0.0.1, port: {client2.tcp}, protocol: raw}}
    drivers:
      SerialDriver: {{}}
      SerialsyncDriver: {{role: client, install_helpers: {str(install).lower()}, helpers_directory: "{typed_dir}"}}
      {shell}
"""
    )


def test_labgrid_shelldriver_runs_multinode_calls_on_three_boards(pty_board, tcp_board, write_env):
    # a short path: install-helpers types one line naming every helper, and busybox's line editor stops at 1024
    typed = tempfile.mkdtemp(prefix="ss-")
    env = Environment(config_file=str(three_boards_env(pty_board, tcp_board, write_env, install=True, typed_dir=typed)))
    try:
        group = labgrid_group(env)
        shells = {name: env.get_target(name).get_driver("ShellDriver") for name in ("server1", "client1", "client2")}
        assert isinstance(env.get_target("server1").get_driver("ConsoleProtocol"), SerialsyncDriver)
        # client2's image had no helpers: they were typed in and checked
        out, _, status = shells["client2"].run("command -v lava-sync")
        assert status == 0 and out == [f"{typed}/lava-sync"]
        # the clients sit in lava-wait and lava-sync while labgrid's ShellDriver drives the server
        waiting = [group[name].start("lava-wait server-up && lava-sync all-up") for name in ("client1", "client2")]
        out, _, status = shells["server1"].run("lava-send server-up 'ip=10.0.0.1' && lava-sync all-up && echo synced")
        assert status == 0 and out[-1] == "synced", out
        assert [w.wait(30).status for w in waiting] == [0, 0]
        for name in ("client1", "client2"):
            out, _, status = shells[name].run('cat "$LAVA_MULTI_NODE_CACHE"')
            assert out == ["server1:ip=10.0.0.1"]
        # every board at once in lava-wait-all, each started through labgrid's console
        started = [group[name].start(f"lava-send ready who={name} && lava-wait-all ready") for name in shells]
        assert [s.wait(30).status for s in started] == [0, 0, 0]
        out, _, _ = shells["client1"].run('cat "$LAVA_MULTI_NODE_CACHE"')
        assert sorted(out) == ["client1:who=client1", "client2:who=client2", "server1:who=server1"]
        calls = [(c.device, c.api, c.message_id, c.ok) for c in group.calls]
        assert ("server1", "lava-sync", "all-up", True) in calls and (
            "client2",
            "lava-wait",
            "server-up",
            True,
        ) in calls
    finally:
        if "group" in locals():
            group.close()
        env.cleanup()
        shutil.rmtree(typed)


def test_labgrid_group_with_the_host_as_a_member(pty_board, tcp_board, write_env):
    env = Environment(config_file=str(three_boards_env(pty_board, tcp_board, write_env)))
    try:
        with labgrid_group(env, host=("host", "host")) as group:
            group.host.send("address", ip="192.168.7.1")
            running = [board.start('lava-wait address && lava-send up "where=$(lava-self)"') for board in group]
            # every client sent it (and the data of every sender so far comes with it)
            assert (
                values(group.host.wait_all("up", role="client", timeout=30), "where").items()
                >= {
                    "client1": "client1",
                    "client2": "client2",
                }.items()
            )
            assert all(r.wait(30).ok for r in running)
            running = [board.start("lava-sync barrier") for board in group]
            group.host.sync("barrier", timeout=30)
            assert all(r.wait(30).ok for r in running)
            stuck = group["client1"].start("lava-sync nobody-else")
        # the group closed: client1's pending call was answered nack, and its command ended
        assert stuck.result is not None and stuck.result.status == 1
    finally:
        env.cleanup()


def test_labgrid_driver_refuses_to_activate_outside_a_group(pty_board, write_env):
    board = pty_board("solo")
    env = Environment(
        config_file=str(
            write_env(
                f"""
imports: [serialsync.labgrid]
targets:
  solo:
    resources:
      RawSerialPort: {{port: "{board.port}", speed: 115200}}
    drivers:
      SerialDriver: {{}}
      SerialsyncDriver: {{role: solo}}
"""
            )
        )
    )
    try:
        with pytest.raises(Exception, match="is in no group"):
            env.get_target("solo").get_driver("SerialsyncDriver")
    finally:
        env.cleanup()
