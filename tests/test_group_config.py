"""The ``groups:`` of the config: defaults, and every error named with its line and key."""

from __future__ import annotations

import pytest

from dbus_bms.cli import main
from dbus_bms.config import ConfigError, parse_config

BATTERIES = "".join(f"  - type: jk-nw\n    port: /dev/ttyUSB{i}\n    alias: pack{i}\n" for i in range(4))


def config(groups: str) -> str:
    return "batteries:\n" + BATTERIES + "groups:\n" + groups


def errors(groups: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ConfigError) as exc:
        parse_config(config(groups), "test.yaml")
    return [(e.line, e.key, e.message) for e in exc.value.errors]


# The line of the first key of the groups (the batteries take three lines each).
G = 2 + 3 * 4


def test_a_group_gets_its_defaults_and_the_next_free_device_instance():
    cfg = parse_config(config("  - alias: bank\n    members: [pack0, pack1, pack2]\n"))
    (g,) = cfg.groups
    assert (g.alias, g.members, g.wiring, g.min_members, g.product_name) == ("bank", ("pack0", "pack1", "pack2"),
                                                                             "parallel", 1, None)
    assert g.device_instance == 516  # the batteries have 512-515
    assert parse_config("batteries:\n" + BATTERIES).groups == ()


def test_every_setting_of_a_group_is_taken():
    cfg = parse_config(config(
        "  - alias: stack\n    wiring: series\n    members:\n      - pack1\n      - pack0\n"
        "    device_instance: 40\n    product_name: HV stack\n"
        "  - alias: bank\n    members: [pack2, pack3]\n    min_members: 2\n"
    ))
    stack, bank = cfg.groups
    assert (stack.wiring, stack.members, stack.min_members, stack.device_instance, stack.product_name) == (
        "series", ("pack1", "pack0"), 2, 40, "HV stack")
    assert (bank.min_members, bank.device_instance) == (2, 516)


def test_default_instances_skip_those_taken_by_batteries_and_other_groups():
    cfg = parse_config(
        "batteries:\n" + BATTERIES.replace("alias: pack3\n", "alias: pack3\n    device_instance: 520\n")
        + "groups:\n  - alias: a\n    members: [pack0, pack1]\n  - alias: b\n    members: [pack2, pack3]\n"
        "    device_instance: 521\n"
    )
    assert [g.device_instance for g in cfg.groups] == [522, 521]


def test_alias_is_required_a_bus_name_part_and_not_a_batterys_or_another_groups():
    assert errors("  - members: [pack0, pack1]\n") == [
        (G + 1, "groups[0].alias", "missing: the group's name, a part of its bus name (letters, digits, underscores)")]
    assert errors("  - alias: 2banks\n    members: [pack0, pack1]\n") == [
        (G + 1, "groups[0].alias", "use letters, digits and underscores, not starting with a digit")]
    assert errors("  - alias: pack1\n    members: [pack0, pack2]\n") == [
        (G + 1, "groups[0].alias", "'pack1' is already the alias of the battery on line 5: a group's service needs a "
                                   "name of its own")]
    assert errors("  - alias: bank\n    members: [pack0, pack1]\n  - alias: bank\n    members: [pack2, pack3]\n") == [
        (G + 3, "groups[1].alias", "'bank' is already the alias of the group on line 15")]


def test_members_are_at_least_two_known_batteries_each_in_one_group():
    assert errors("  - alias: bank\n") == [
        (G + 1, "groups[0].members", "missing: the aliases of the batteries in this group (at least two)")]
    assert errors("  - alias: bank\n    members: [pack0]\n") == [
        (G + 2, "groups[0].members", "expected a list of at least two battery aliases")]
    assert errors("  - alias: bank\n    members: pack0\n") == [
        (G + 2, "groups[0].members", "expected a list of at least two battery aliases")]
    assert errors("  - alias: bank\n    members: [pack0, pakc1]\n") == [
        (G + 2, "groups[0].members[1]", "no battery has the alias 'pakc1'; did you mean 'pack1'?")]
    assert errors("  - alias: bank\n    members: [pack0, zz]\n") == [
        (G + 2, "groups[0].members[1]", "no battery has the alias 'zz'; the batteries: pack0, pack1, pack2, pack3")]
    assert errors("  - alias: bank\n    members:\n      - pack0\n      - pack0\n") == [
        (G + 4, "groups[0].members[1]", "'pack0' is listed twice")]
    assert errors("  - alias: a\n    members: [pack0, pack1]\n  - alias: b\n    members: [pack1, pack2]\n") == [
        (G + 4, "groups[1].members[0]", "'pack1' is already a member of the group on line 15: a battery is in one "
                                        "group at most")]
    assert errors("  - alias: bank\n    members: [pack0, [pack1]]\n") == [
        (G + 2, "groups[0].members[1]", "expected a single value, not a list or mapping")]


def test_wiring_and_min_members_are_checked_and_a_series_group_needs_every_member():
    assert errors("  - alias: bank\n    members: [pack0, pack1]\n    wiring: star\n") == [
        (G + 3, "groups[0].wiring", "expected one of parallel, series, got 'star'")]
    assert errors("  - alias: bank\n    members: [pack0, pack1]\n    min_members: 3\n") == [
        (G + 3, "groups[0].min_members", "3, but the group has 2 members")]
    assert errors("  - alias: bank\n    members: [pack0, pack1]\n    min_members: 0\n") == [
        (G + 3, "groups[0].min_members", "0 is out of range 1 to 999")]
    (series,) = errors("  - alias: hv\n    wiring: series\n    members: [pack0, pack1, pack2]\n    min_members: 2\n")
    assert series[:2] == (G + 4, "groups[0].min_members")
    assert series[2].startswith("2 in a series group: every pack of a series string carries the string's current")
    assert series[2].endswith("a series group needs all 3 members (leave min_members out)")
    cfg = parse_config(config("  - alias: hv\n    wiring: series\n    members: [pack0, pack1, pack2]\n"
                              "    min_members: 3\n"))
    assert cfg.groups[0].min_members == 3


def test_a_group_that_counts_its_soc_has_every_member_count_its_own():
    cfg = parse_config("batteries:\n" + BATTERIES.replace(
        "alias: pack1\n", "alias: pack1\n    soc_counting: true\n    soc_efficiency: 0.95\n")
        + "groups:\n  - alias: bank\n    members: [pack0, pack1, pack2]\n    soc_counting: true\n"
        "    soc_efficiency: 0.97\n")
    counting = {b.alias: (b.soc_counting, b.soc_efficiency) for b in cfg.batteries}
    # pack1 counted of its own and keeps its efficiency; pack3 is in no group.
    assert counting == {"pack0": (True, 0.97), "pack1": (True, 0.95), "pack2": (True, 0.97), "pack3": (False, 0.99)}
    assert cfg.groups[0].soc_counting and cfg.groups[0].soc_efficiency == 0.97
    assert not any(b.soc_counting for b in parse_config(config("  - alias: bank\n    members: [pack0, pack1]\n")).batteries)


def test_a_group_counts_only_where_it_can():
    assert errors("  - alias: bank\n    members: [pack0, pack1]\n    soc_efficiency: 0.97\n") == [
        (G + 3, "groups[0].soc_efficiency", "has no effect without soc_counting: true")]
    lent = ("batteries:\n" + BATTERIES.replace("alias: pack1\n", "alias: pack1\n    borrow:\n      - type: dbus-battery\n"
                                                "        service: ttyS5\n")
            + "groups:\n  - alias: bank\n    members: [pack0, pack1]\n    soc_counting: true\n")
    with pytest.raises(ConfigError) as exc:
        parse_config(lent, "test.yaml")
    assert [(e.key, e.message) for e in exc.value.errors] == [
        ("groups[0].soc_counting", "member pack1 borrows its SoC from dbus-battery, a battery monitor that counts every "
                                   "amp: counting would only replace it")]


def test_other_keys_of_a_group_are_checked():
    assert errors("  - alias: bank\n    members: [pack0, pack1]\n    membres: [pack2]\n") == [
        (G + 3, "groups[0].membres", "unknown key; did you mean 'members'?")]
    assert errors("  - alias: bank\n    members: [pack0, pack1]\n    device_instance: 1000\n") == [
        (G + 3, "groups[0].device_instance", "1000 is out of range 0 to 999")]
    assert errors("  - alias: bank\n    members: [pack0, pack1]\n    product_name: ' '\n") == [
        (G + 3, "groups[0].product_name", "is empty: leave it out for the default name")]
    assert errors("  bank: [pack0, pack1]\n") == [
        (G + 1, "groups", "expected a list of groups, each with its alias and members")]
    assert errors("  - [pack0, pack1]\n") == [(G + 1, "groups[0]", "expected a mapping of key: value")]


def test_every_group_error_is_reported_at_once_beside_the_batteries():
    with pytest.raises(ConfigError) as exc:
        parse_config("batteries:\n  - type: jk-nw\n    port: /dev/x\n    alias: a\n    pol_interval: 2\n"
                     "groups:\n  - alias: a\n    members: [a, b]\n", "test.yaml")
    assert [(e.line, e.key) for e in exc.value.errors] == [
        (5, "batteries[0].pol_interval"), (7, "groups[0].alias"), (8, "groups[0].members[1]")]


def test_check_config_names_each_group_and_its_members(tmp_path, capsys):
    path = tmp_path / "dbus-bms.yaml"
    path.write_text(f"state_dir: {tmp_path}\n" + config("  - alias: bank\n    members: [pack0, pack1]\n    min_members: 2\n"))
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.endswith("  group bank: pack0, pack1 in parallel, one battery while at least 2 of them are online; the "
                        "members are published only in it\n")
