import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bastion.cli import main

WITH_PLUGIN = '''
from bastion import App, Settings
from bastion.observability import ObservabilityPlugin
app = App(settings=Settings(profile="test", app_name="shop_api"),
          plugins=[ObservabilityPlugin(health_path="/ops/health", logs=None)])
'''
WITHOUT_PLUGIN = '''
from bastion import App, Settings
app = App(settings=Settings(profile="test", app_name="plain"))
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "shopapp.py").write_text(WITH_PLUGIN)
    (tmp_path / "plainapp.py").write_text(WITHOUT_PLUGIN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("shopapp", "plainapp"):
        sys.modules.pop(name, None)


def test_dockerfile_serves_the_app_and_checks_its_liveness(project):
    (project / "requirements.txt").write_text("bastion\n")
    result = CliRunner().invoke(main, ["deploy", "dockerfile", "shopapp:app", "--port", "9000"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "FROM python:3.12-slim" in text
    assert "RUN pip install -r requirements.txt" in text
    assert 'CMD ["bastion", "serve", "shopapp:app", "--host", "0.0.0.0", "--port", "9000"]' in text
    assert "http://127.0.0.1:9000/ops/health/live" in text
    assert "USER 10001" in text and "BASTION_PROFILE=prod" in text


def test_dockerfile_to_a_file_installs_a_pyproject(project):
    (project / "pyproject.toml").write_text("[project]\nname='shop'\n")
    result = CliRunner().invoke(main, ["deploy", "dockerfile", "plainapp:app", "-o", "Dockerfile"])
    assert result.exit_code == 0, result.output
    text = (project / "Dockerfile").read_text()
    assert "RUN pip install .\n" in text and "HEALTHCHECK" not in text


def test_kubernetes_manifest_wires_probes_to_the_health_endpoints(project):
    result = CliRunner().invoke(
        main, ["deploy", "kubernetes", "shopapp:app", "--image", "registry.local/shop:1.2", "--replicas", "3"]
    )
    assert result.exit_code == 0, result.output
    deployment, service = list(yaml.safe_load_all(result.output))
    assert deployment["kind"] == "Deployment" and service["kind"] == "Service"
    assert deployment["metadata"]["name"] == "shop-api"
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.local/shop:1.2"
    assert container["livenessProbe"]["httpGet"] == {"path": "/ops/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ops/health/ready", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/ops/health/live"
    assert container["args"][:3] == ["bastion", "serve", "shopapp:app"]
    assert "--drain-delay" in container["args"]
    # Kubernetes must wait longer than the drain delay plus the grace period before SIGKILL.
    assert pod["terminationGracePeriodSeconds"] > 5 + 30
    secret = next(e for e in container["env"] if e["name"] == "BASTION_SECRET_KEY")
    assert secret["valueFrom"]["secretKeyRef"]["name"] == "shop-api-secrets"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_kubernetes_without_health_endpoints_says_so(project):
    result = CliRunner().invoke(main, ["deploy", "kubernetes", "plainapp:app"])
    assert result.exit_code == 0
    assert "has no ObservabilityPlugin" in result.output
    manifest = result.output[result.output.index("# Generated"):]
    deployment = next(yaml.safe_load_all(manifest))
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["tcpSocket"] == {"port": "http"}


def test_serve_with_granian_missing_says_what_to_install(project, monkeypatch):
    monkeypatch.setitem(sys.modules, "granian", None)
    monkeypatch.setenv("BASTION_PROFILE", "test")  # serve would set prod for the whole process
    result = CliRunner().invoke(main, ["serve", "plainapp:app", "--server", "granian"])
    assert result.exit_code == 1
    assert "pip install 'bastion[granian]'" in result.output
