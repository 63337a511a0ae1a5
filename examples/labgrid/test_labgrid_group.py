"""A group of labgrid targets: run with

    pytest examples/labgrid --lg-env examples/labgrid/env.yaml -rA

labgrid's ShellDriver runs commands that call lava-sync and friends; the
test is a member of the group too.
"""

from serialsync.boards import values


def test_shelldriver_commands_meet_at_barriers(serialsync_group, serialsync_host, env):
    shells = {name: env.get_target(name).get_driver("ShellDriver") for name in ("server1", "client1", "client2")}

    # the clients wait for the server's address; markers are served while nobody reads their consoles
    clients = [serialsync_group[name].start('lava-wait server && lava-send ready "who=$(lava-self)"')
               for name in ("client1", "client2")]  # fmt: skip
    # labgrid's own ShellDriver, on the server: a command that calls the helpers
    out, _, status = shells["server1"].run("lava-send server address=10.0.0.1:5201 && echo sent")
    assert status == 0 and out[-1] == "sent"  # after the marker lines the helper exchanged with the host
    ready = serialsync_host.wait_all("ready", role="client", timeout=60)
    assert values(ready, "who") == {"client1": "client1", "client2": "client2"}
    assert all(c.wait(60).ok for c in clients)

    out, _, _ = shells["client1"].run('cat "$LAVA_MULTI_NODE_CACHE"')
    assert out == ["server1:address=10.0.0.1:5201"]

    # every board and the test at one barrier
    syncing = [board.start("lava-sync done") for board in serialsync_group]
    serialsync_host.sync("done", timeout=60)
    assert all(s.wait(60).ok for s in syncing)
