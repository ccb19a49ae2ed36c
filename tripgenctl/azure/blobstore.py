"""The team backup store in Azure Blob Storage (azure-storage-blob), the only place that talks
to it. Uploads go block by block (stage_block / commit_block_list, 8 MiB each, four in flight, each
block's MD5 checked by the service), so memory stays bounded whatever the dump's size; downloads are
streamed chunk by chunk into a file the caller owns. Credentials, in this order:

- TRIPGENCTL_BACKUP_STORE_CONNECTION_STRING (or AZURE_STORAGE_CONNECTION_STRING): CI, Azurite;
- TRIPGENCTL_BACKUP_STORE_SAS: a SAS token for the account URL;
- otherwise DefaultAzureCredential, as every other Azure command (az login, workload identity).

The account URL is https://<account>.blob.core.windows.net unless
TRIPGENCTL_BACKUP_STORE_ENDPOINT overrides it. Neither a key nor a SAS ever reaches a message."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from dataclasses import dataclass
from typing import Callable, Iterator

from tripgenctl.errors import ConnectionFailed, ToolError, UsageError

BLOCK = 8 << 20  # Azure allows 4000 MiB a block and 50,000 blocks: 8 MiB covers 390 GiB
UPLOADS = 4  # blocks staged at once (bench/backup.py: sequential staging was the upload's cost)
CONNECTION_VARS = ("TRIPGENCTL_BACKUP_STORE_CONNECTION_STRING", "AZURE_STORAGE_CONNECTION_STRING")
SAS_VAR = "TRIPGENCTL_BACKUP_STORE_SAS"
ENDPOINT_VAR = "TRIPGENCTL_BACKUP_STORE_ENDPOINT"


class StoreUnreachable(ConnectionFailed):
    pass


@dataclass
class BlobFacts:
    name: str
    size: int
    metadata: dict[str, str]
    last_modified: str  # ISO 8601 UTC
    content_md5: str | None  # hex, the service's own checksum of the whole blob when it has one


def _one_line(text, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _connection_string() -> str | None:
    for var in CONNECTION_VARS:
        if os.environ.get(var):
            return os.environ[var]
    return None


def _conn_account(conn: str) -> str | None:
    for part in conn.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "accountname":
            return value.strip()
    return None


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """azure-core exceptions -> one ToolError line (status and the service's error code)."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError, ServiceRequestError, ServiceResponseError

    from tripgenctl.azure.errors import login_error

    try:
        yield
    except ToolError:
        raise
    except ClientAuthenticationError as exc:
        if getattr(exc, "status_code", None) == 403:
            raise ToolError(f"{what}: the backup store refused the credential (403 {getattr(exc, 'error_code', '') or ''})".rstrip()) from None
        raise login_error(exc) from None
    except ResourceNotFoundError as exc:
        raise ToolError(f"{what}: not found in the backup store ({getattr(exc, 'error_code', None) or 404})") from None
    except HttpResponseError as exc:
        code = getattr(exc, "error_code", None) or ""
        raise ToolError(f"{what}: the backup store answered {exc.status_code} {code}".rstrip()) from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise StoreUnreachable(f"cannot reach the backup store for {what}: {_one_line(getattr(exc, 'message', None) or exc, 160)}") from None
    except ValueError as exc:  # a malformed connection string or SAS
        raise UsageError(f"{what}: the backup store's connection settings are malformed: {_one_line(str(exc).splitlines()[0] if str(exc) else exc, 120)}") from None


class Container:
    """One container of one storage account (closes its client with `with`)."""

    def __init__(self, account: str, container: str, timeout: float = 30.0):
        from azure.storage.blob import BlobServiceClient

        from tripgenctl.azure import quiet_sdk_logging

        quiet_sdk_logging()
        self.account, self.name = account, container
        # SPEC client policy: exponential backoff, 3 tries, 30 s per connection / read
        kw = dict(retry_total=2, connection_timeout=timeout, read_timeout=timeout)
        conn = _connection_string()
        with translated(f"store {account}/{container}"):
            if conn:
                found = _conn_account(conn)
                if found and found != account:
                    raise UsageError(f"the backup store is account {account!r} but the connection string is for {found!r}")
                service = BlobServiceClient.from_connection_string(conn, **kw)
            else:
                url = os.environ.get(ENDPOINT_VAR) or f"https://{account}.blob.core.windows.net"
                sas = os.environ.get(SAS_VAR)
                if sas:
                    service = BlobServiceClient(url, credential=sas.lstrip("?"), **kw)
                else:
                    from azure.identity import DefaultAzureCredential

                    service = BlobServiceClient(url, credential=DefaultAzureCredential(), **kw)
        self._service = service
        self._client = service.get_container_client(container)

    def __enter__(self) -> "Container":
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            self._service.close()

    def ensure(self) -> None:
        """Create the container when missing (a new team store)."""
        from azure.core.exceptions import ResourceExistsError

        with translated(f"container {self.name}"):
            try:
                self._client.create_container()
            except ResourceExistsError:
                pass

    # ---- writing -------------------------------------------------------------------------
    def upload_file(self, path, blob: str, metadata: dict[str, str], progress: Callable[[int], None] | None = None) -> tuple[str, str]:
        """Stage the file in BLOCK-sized blocks (each MD5-checked by the service), UPLOADS of
        them in flight at once, then commit them with `metadata` and the whole file's MD5 as the
        blob's content MD5. The file is read once, in order, here (sha256 and MD5 of what is
        sent); memory stays at about (UPLOADS + 1) blocks. Returns the hex (sha256, md5)."""
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        from azure.storage.blob import BlobBlock, ContentSettings

        client = self._client.get_blob_client(blob)
        sha, md5 = hashlib.sha256(), hashlib.md5()
        blocks: list = []
        done = 0
        with translated(f"upload of {blob}"), open(path, "rb") as fh, ThreadPoolExecutor(UPLOADS, thread_name_prefix="stage-block") as pool:
            pending: set = set()

            def settle(until: int) -> None:
                nonlocal pending
                while len(pending) > until:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        f.result()  # the first failure ends the upload (translated above)

            try:
                while True:
                    data = fh.read(BLOCK)
                    if not data:
                        break
                    block_id = base64.b64encode(f"{len(blocks):08d}".encode()).decode()
                    sha.update(data)
                    md5.update(data)
                    settle(UPLOADS - 1)
                    pending.add(pool.submit(client.stage_block, block_id, data, length=len(data), validate_content=True))
                    blocks.append(BlobBlock(block_id=block_id))
                    done += len(data)
                    if progress:
                        progress(done)
                settle(0)
            except BaseException:
                for f in pending:
                    f.cancel()
                raise
            client.commit_block_list(blocks, metadata=metadata,
                                     content_settings=ContentSettings(content_type="application/octet-stream", content_md5=bytearray(md5.digest())))
        return sha.hexdigest(), md5.hexdigest()

    def set_metadata(self, blob: str, metadata: dict[str, str]) -> None:
        with translated(f"metadata of {blob}"):
            self._client.get_blob_client(blob).set_blob_metadata(metadata)

    def put_small(self, blob: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        from azure.storage.blob import ContentSettings

        with translated(f"upload of {blob}"):
            self._client.upload_blob(blob, data, overwrite=True, metadata=metadata,
                                     content_settings=ContentSettings(content_type="application/json"))

    def delete(self, blob: str, missing_ok: bool = True) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with translated(f"delete of {blob}"):
            try:
                self._client.delete_blob(blob)
            except ResourceNotFoundError:
                if not missing_ok:
                    raise

    # ---- reading -------------------------------------------------------------------------
    def facts(self, blob: str) -> BlobFacts | None:
        from azure.core.exceptions import ResourceNotFoundError

        with translated(f"properties of {blob}"):
            try:
                p = self._client.get_blob_client(blob).get_blob_properties()
            except ResourceNotFoundError:
                return None
        return _facts(p)

    def list(self, prefix: str | None = None) -> list[BlobFacts]:
        with translated(f"listing of {self.account}/{self.name}"):
            return [_facts(p) for p in self._client.list_blobs(name_starts_with=prefix or None, include=["metadata"])]

    def read_small(self, blob: str, limit: int = 1 << 20) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        with translated(f"download of {blob}"):
            try:
                downloader = self._client.download_blob(blob)
            except ResourceNotFoundError:
                return None
            if downloader.size > limit:
                raise ToolError(f"{blob} is {downloader.size} bytes, more than a metadata file can be")
            return downloader.readall()

    def chunks(self, blob: str) -> Iterator[bytes]:
        """The blob's bytes, streamed (the SDK fetches 4 MiB at a time)."""
        with translated(f"download of {blob}"):
            downloader = self._client.download_blob(blob, max_concurrency=1)
            yield from downloader.chunks()


def _facts(p) -> BlobFacts:
    md5 = getattr(getattr(p, "content_settings", None), "content_md5", None)
    modified = p.last_modified
    return BlobFacts(name=p.name, size=int(p.size or 0), metadata=dict(p.metadata or {}),
                     last_modified=modified.strftime("%Y-%m-%dT%H:%M:%SZ") if modified else "",
                     content_md5=bytes(md5).hex() if md5 else None)
