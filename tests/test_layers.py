"""vibegrapher.layers: the single-process channel layer delivers a group's messages as Channels'
in-memory layer does."""

from channels.layers import get_channel_layer

from vibegrapher.layers import ProcessChannelLayer


def test_the_layer_without_redis_is_the_process_layer(settings):
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "vibegrapher.layers.ProcessChannelLayer"
    assert isinstance(get_channel_layer(), ProcessChannelLayer)


async def test_every_member_gets_the_group_messages_in_order_each_its_own_copy():
    layer = ProcessChannelLayer(capacity=10)
    members = [await layer.new_channel() for _ in range(3)]
    for channel in members:
        await layer.group_add("project_a", channel)
    outsider = await layer.new_channel()
    await layer.group_add("project_b", outsider)

    for seq in (1, 2):
        await layer.group_send("project_a", {"type": "project.event", "event": {"seq": seq, "data": {"n": [seq]}}})

    received = [[await layer.receive(channel), await layer.receive(channel)] for channel in members]
    assert [[message["event"]["seq"] for message in pair] for pair in received] == [[1, 2]] * 3
    received[0][0]["event"]["data"]["n"].append("changed by one receiver")
    assert received[1][0]["event"]["data"] == {"n": [1]}
    assert outsider not in layer.channels  # nothing was sent to the other project's member


async def test_a_full_member_loses_the_message_and_the_others_still_get_it():
    layer = ProcessChannelLayer(capacity=1)
    full, free = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("project_a", full)
    await layer.group_add("project_a", free)
    await layer.send(full, {"type": "filler"})

    await layer.group_send("project_a", {"type": "project.event", "event": {"seq": 1}})

    assert (await layer.receive(free))["event"] == {"seq": 1}
    assert (await layer.receive(full))["type"] == "filler"
    assert layer.channels.get(full) is None or layer.channels[full].empty()


async def test_a_group_without_members_takes_the_message_and_keeps_nothing():
    layer = ProcessChannelLayer()
    await layer.group_send("project_nobody", {"type": "project.event", "event": {"seq": 1}})
    assert layer.channels == {}
