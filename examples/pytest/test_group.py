"""serialsync's pytest plugin on simulated boards: run with

    pytest examples/pytest -rA --junitxml=results.xml

Each multinode call and board command is listed in the report ("serialsync
calls and commands") and in results.xml as properties; a failing test gets
every board's console log in its report.
"""

import pytest

from serialsync.boards import values


@pytest.mark.serialsync(job="group.yaml")
def test_the_test_hands_out_an_address_and_meets_the_boards(serialsync_group, serialsync_host):
    group, host = serialsync_group, serialsync_host

    # a command on one board: exit status and output
    result = group["server1"].run("lava-self; lava-role")
    assert result.ok and result.output.split() == ["server1", "server"]

    # the test hands the boards a server address ...
    host.send("server", address="10.0.0.1:5201")
    # ... the clients start at once (each may block in the helpers; their markers are served meanwhile) ...
    started = [
        c.start('lava-wait server && lava-send client-ready "who=$(lava-self)"') for c in group.of_role("client")
    ]
    # ... and the test waits until every client reports ready, with what each sent
    ready = host.wait_all("client-ready", role="client", timeout=60)
    assert values(ready, "who") == {"client1": "client1", "client2": "client2"}
    for command in started:
        assert command.wait(60).ok

    # every board and the test at one barrier; expect() on a console while markers keep being served
    syncing = [board.start("lava-sync all-up && echo through") for board in group]
    group["client2"].expect(r"SYNC all-up \S+>", timeout=60)
    host.sync("all-up", timeout=60)
    assert [s.wait(60).output.strip() for s in syncing] == ["through"] * 3


@pytest.mark.serialsync(devices=[("sender", "peer", "simulated:sh"), ("receiver", "peer", "simulated:dash")])
def test_a_group_defined_in_python(serialsync_group):
    serialsync_group["sender"].run("lava-send greeting 'text=hello there'").check()
    cache = serialsync_group["receiver"].run('lava-wait greeting && cat "$LAVA_MULTI_NODE_CACHE"').check()
    assert cache.output.strip() == "sender:text=hello there"
