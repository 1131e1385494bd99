"""Built-in plugin: the `local` and `s3` artifact stores of `artifacts.backend`."""

from __future__ import annotations

from edgehost.artifacts.local import LocalArtifactStore
from edgehost.artifacts.s3 import S3ArtifactStore
from edgehost.artifacts.signing import UrlSigner, load_or_create_secret
from edgehost.contracts import ArtifactStore
from edgehost.hookspecs import hookimpl
from edgehost.settings import Settings


@hookimpl
def edgehost_artifact_store(settings: Settings) -> ArtifactStore:
    if settings.artifacts.backend == "s3":
        s3 = settings.artifacts.s3
        return S3ArtifactStore(
            endpoint=s3.endpoint,
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            bucket=s3.bucket,
            secure=s3.secure,
            region=s3.region,
        )
    root = settings.artifacts_dir
    secret = load_or_create_secret(settings.effective_state_dir / "url-signing.secret")
    return LocalArtifactStore(root, UrlSigner(secret, public_api_url(settings)))


def public_api_url(settings: Settings) -> str:
    """Where runners and developers reach local-store artifact URLs: `artifacts.public_url`, else the API.

    Not the node listener: it demands a node certificate, which developers uploading do not have.
    """
    if settings.artifacts.public_url:
        return settings.artifacts.public_url
    host = settings.api.host if settings.api.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.api.port}"
