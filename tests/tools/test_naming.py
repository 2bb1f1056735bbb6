"""Exposed names: valid for Realtime, deterministic, and never two tools under one name."""

from __future__ import annotations

import random

from mcp_voice.tools.naming import assign_names, expose_name, is_valid_name


def test_plain_names_are_kept() -> None:
    assert expose_name("calendar", "list_events") == "calendar__list_events"


def test_bad_characters_are_replaced_and_hashed() -> None:
    name = expose_name("files", "read.file/v2")
    assert is_valid_name(name)
    assert name.startswith("files__read_file_v2_")
    assert name == expose_name("files", "read.file/v2")


def test_long_names_fit_in_64_characters() -> None:
    name = expose_name("a-very-long-server-name", "x" * 100)
    assert len(name) <= 64 and is_valid_name(name)
    assert name.startswith("a-very-long__xxx")  # the cut server part loses its trailing "-"
    assert name != expose_name("a-very-long-server-name", "x" * 101)


def test_a_long_server_name_is_shortened_before_the_tool_name() -> None:
    server = "a_really_long_server_name_from_the_config_file_that_goes_past_the_limit"
    names = assign_names([(server, "get_current_time"), (server, "convert_time")])
    now, convert = names[server, "get_current_time"], names[server, "convert_time"]
    assert len(now) == len(convert) == 64
    assert is_valid_name(now) and is_valid_name(convert)
    # The model tells the two apart by the part it cares about, not only by a hash.
    assert "__get_current_time_" in now and "__convert_time_" in convert
    assert now.startswith(server[:12]) and convert.startswith(server[:12])
    assert "___" not in now and "___" not in convert  # the cut server part never blurs the separator


def test_the_documented_long_name_example_holds() -> None:
    # docs/plugins.md, "What the model sees", quotes this exact name.
    server = "my_company_internal_time_service_for_the_voice_assistant_in_production"
    assert (
        expose_name(server, "get_current_time")
        == "my_company_internal_time_service_for__get_current_time_a9e9a2f6"
    )


def test_a_long_tool_name_keeps_a_readable_server_prefix() -> None:
    name = expose_name("weather", "t" * 100)
    assert name.startswith("weather__ttt") and len(name) == 64 and is_valid_name(name)


def test_names_that_sanitise_alike_stay_distinct() -> None:
    pairs = [("s", "a.b"), ("s", "a/b"), ("s", "a b"), ("s", "a_b")]
    names = assign_names(pairs)
    assert len(set(names.values())) == 4
    assert all(is_valid_name(n) for n in names.values())


def test_separator_ambiguity_between_servers_is_resolved() -> None:
    names = assign_names([("a__b", "c"), ("a", "b__c")])
    assert len(set(names.values())) == 2
    assert all(is_valid_name(n) for n in names.values())


def test_assignment_does_not_depend_on_order() -> None:
    pairs = [("srv", f"tool.{i}") for i in range(20)] + [("srv", "tool_1"), ("x" * 70, "y")]
    shuffled = pairs[:]
    random.Random(7).shuffle(shuffled)
    assert assign_names(pairs) == assign_names(shuffled)
    assert len(set(assign_names(pairs).values())) == len(pairs)


def test_hashed_names_are_stable_across_runs() -> None:
    # A fixed value: a changed hash would rename tools under running clients' feet.
    assert expose_name("files", "read.file") == "files__read_file_97875296"
