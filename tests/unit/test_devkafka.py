"""The dev broker's launcher and the Kafka security settings, without a broker."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from taskstream.devkafka import BrokerError, KafkaBroker, Listener
from taskstream.devkafka.broker import new_cluster_id
from taskstream.transports.kafka import KafkaSecurity


def test_cluster_ids_are_16_random_bytes_and_never_look_like_an_option() -> None:
    ids = {new_cluster_id() for _ in range(5000)}  # about 1 in 64 raw ids starts with "-"
    assert len(ids) == 5000
    assert not any(i.startswith("-") for i in ids)
    assert {len(base64.urlsafe_b64decode(i + "==")) for i in ids} == {16}


def test_server_properties_name_every_listener_and_keep_topic_creation_to_the_services(
    tmp_path: Path,
) -> None:
    broker = KafkaBroker(tmp_path, port=19092, listeners=[Listener("SASL", "SASL_PLAINTEXT", 19094)])
    lines = dict(line.split("=", 1) for line in broker._server_properties(19093).splitlines() if "=" in line)
    assert lines["listeners"] == (
        "PLAINTEXT://127.0.0.1:19092,SASL://127.0.0.1:19094,CONTROLLER://127.0.0.1:19093"
    )
    assert lines["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092,SASL://127.0.0.1:19094"
    assert lines["listener.security.protocol.map"].endswith("SASL:SASL_PLAINTEXT")
    assert lines["auto.create.topics.enable"] == "false"
    assert lines["log.dirs"] == str(tmp_path / "log")
    with pytest.raises(BrokerError, match="unique"):
        KafkaBroker(tmp_path, listeners=[Listener("CONTROLLER", "SSL", 1)])._server_properties(19093)


def test_a_new_data_dir_uses_9092_and_a_used_one_its_last_port(tmp_path: Path) -> None:
    assert KafkaBroker(tmp_path).port == 9092
    assert KafkaBroker(tmp_path).last_port is None
    (tmp_path / "state.json").write_text('{"port": 45678}')
    assert KafkaBroker(tmp_path).port == 45678
    assert not KafkaBroker(tmp_path).running  # no pid recorded


@pytest.mark.parametrize(
    ("options", "names"),
    [
        ({"protocol": "TLS"}, "kafka_security_protocol"),
        ({"protocol": "SASL_SSL"}, "kafka_sasl_mechanism"),
        ({"protocol": "SASL_SSL", "mechanism": "PLAIN"}, "kafka_sasl_username"),
        ({"protocol": "SSL", "keyfile": "client.key"}, "kafka_ssl_certfile"),
    ],
)
def test_incomplete_security_settings_name_what_is_missing(options: dict[str, str], names: str) -> None:
    with pytest.raises(ValueError, match=names):
        KafkaSecurity(**options)


def test_sasl_settings_become_client_options() -> None:
    security = KafkaSecurity(protocol="SASL_PLAINTEXT", mechanism="SCRAM-SHA-512", username="u", password="p")
    assert security.client_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "u",
        "sasl_plain_password": "p",
    }
