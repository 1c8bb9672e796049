"""The whole pipeline on a secured broker: a provisioned device over TLS with its own
credentials, and `cloud serve`'s ingest logged in as the cloud user over TLS."""

from __future__ import annotations

import time
from pathlib import Path

from security_testkit import eventually_rc, secure_env

from cloud.security.broker_auth import CLOUD_USERNAME
from cloud.security.provisioning import cloud_password, provision_device
from cloud.server import CloudService
from cloud.settings import CloudSettings
from contract.clock import SystemClock
from edge.agent import Agent
from edge.settings import AgentSettings


def test_a_provisioned_device_reaches_the_cloud_over_tls(tmp_path: Path) -> None:
    with secure_env(tmp_path / "security") as env:
        layout = env.broker.layout
        bundle = provision_device(
            env.store, layout, SystemClock(), tenant="acme", device_id="pump-001",
            out_dir=tmp_path / "bundle", broker_url=env.broker.tls_url, valid_s=86400.0,
        )
        assert eventually_rc(env, bundle.credential.username, bundle.credential.password, (0,)) == 0
        cloud_password(layout)  # creates the cloud user's password file on first use
        settings = CloudSettings(
            broker_url=env.broker.cloud_url, broker_username=CLOUD_USERNAME,
            broker_password_file=layout.cloud_password, broker_ca_file=layout.ca_cert,
            db_url=f"sqlite:///{tmp_path / 'cloud.db'}", tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}", port=0,
        )
        agent = Agent(AgentSettings(
            device_id="pump-001", tenant="acme", broker_url=env.broker.tls_url, sensor="sim:pump",
            rate_hz=20.0, publish_interval_s=0.2, state_dir=tmp_path / "edge", model_path=None,
            username=bundle.credential.username, password_file=bundle.directory / "password",
            ca_file=bundle.directory / "ca.pem",
        ))
        with CloudService(settings) as cloud:
            agent.start()
            time.sleep(3.0)
            agent.stop(flush_timeout_s=20)
            sampled = agent.stats().readings_sampled
            assert sampled > 20
            deadline = time.monotonic() + 30
            while cloud.ingest_stats().readings_stored < sampled and time.monotonic() < deadline:
                time.sleep(0.2)
            assert cloud.ingest_stats().readings_stored == sampled
            assert cloud.ingest_stats().rejected_total == 0
