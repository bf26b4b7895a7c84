"""CloudFormation custom resource: copy an image inside one ECR registry, under a new tag.

CDK publishes each host image (a ``DockerImageAsset``) to its bootstrap assets repository,
tagged by content hash. Workers expect it as ``<host repo>:<image name>`` (schema.py), and ECR
replication then carries it to the hubs. ECR has no server-side copy, so this copies the blobs
(config and layers, streamed part by part) and then puts the manifest under the new tag;
multi-platform indexes are copied child by child. Standard library and boto3 only.

Properties: ``SourceRepository``, ``SourceTag``, ``DestRepository``, ``DestTag``.
Delete leaves the image (the repository is retained with its images).
"""

from __future__ import annotations

import json
import traceback
import urllib.request
from collections.abc import Callable
from typing import Any, BinaryIO

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json", *INDEX_TYPES)
PART_BYTES = 10 * 1024 * 1024  # ECR takes parts of at most 20 MiB


def _media_type(manifest: dict[str, Any], given: str | None) -> str:
    return given or manifest.get("mediaType") or MANIFEST_TYPES[0]


class Copier:
    def __init__(self, ecr: Any, opener: Callable[[str], BinaryIO] = urllib.request.urlopen
                 ) -> None:
        self.ecr = ecr
        self.open = opener

    def copy(self, src: str, src_tag: str, dest: str, dest_tag: str) -> str:
        """Copy ``src:src_tag`` to ``dest:dest_tag``; return the image digest."""
        image = self._get(src, {"imageTag": src_tag})
        self._copy_manifest(src, dest, image["imageManifest"],
                            image.get("imageManifestMediaType"), tag=dest_tag)
        return image["imageId"]["imageDigest"]

    def _get(self, repo: str, image_id: dict[str, str]) -> dict[str, Any]:
        out = self.ecr.batch_get_image(repositoryName=repo, imageIds=[image_id],
                                       acceptedMediaTypes=list(MANIFEST_TYPES))
        if not out.get("images"):
            raise RuntimeError(f"image {repo} {image_id} not found: {out.get('failures')}")
        return out["images"][0]

    def _copy_manifest(self, src: str, dest: str, text: str, media: str | None, *,
                       tag: str | None = None, digest: str | None = None) -> None:
        manifest = json.loads(text)
        media = _media_type(manifest, media)
        if media in INDEX_TYPES or "manifests" in manifest:
            for child in manifest.get("manifests", []):
                image = self._get(src, {"imageDigest": child["digest"]})
                self._copy_manifest(src, dest, image["imageManifest"],
                                    image.get("imageManifestMediaType"), digest=child["digest"])
        else:
            blobs = [manifest["config"], *manifest.get("layers", [])]
            self._copy_blobs(src, dest, [b["digest"] for b in blobs])
        kw: dict[str, Any] = {"repositoryName": dest, "imageManifest": text,
                              "imageManifestMediaType": media}
        if tag:
            kw["imageTag"] = tag
        if digest:
            kw["imageDigest"] = digest
        try:
            self.ecr.put_image(**kw)
        except self.ecr.exceptions.ImageAlreadyExistsException:
            pass

    def _copy_blobs(self, src: str, dest: str, digests: list[str]) -> None:
        have = self.ecr.batch_check_layer_availability(repositoryName=dest, layerDigests=digests)
        present = {layer["layerDigest"] for layer in have.get("layers", [])
                   if layer.get("layerAvailability") == "AVAILABLE"}
        for digest in digests:
            if digest not in present:
                self._copy_blob(src, dest, digest)
                present.add(digest)

    def _copy_blob(self, src: str, dest: str, digest: str) -> None:
        url = self.ecr.get_download_url_for_layer(repositoryName=src,
                                                  layerDigest=digest)["downloadUrl"]
        upload = self.ecr.initiate_layer_upload(repositoryName=dest)
        upload_id = upload["uploadId"]
        part = min(int(upload.get("partSize") or PART_BYTES), PART_BYTES)
        first = 0
        with self.open(url) as stream:
            while True:
                blob = stream.read(part)
                if not blob:
                    break
                self.ecr.upload_layer_part(repositoryName=dest, uploadId=upload_id,
                                           partFirstByte=first,
                                           partLastByte=first + len(blob) - 1,
                                           layerPartBlob=blob)
                first += len(blob)
        try:
            self.ecr.complete_layer_upload(repositoryName=dest, uploadId=upload_id,
                                           layerDigests=[digest])
        except self.ecr.exceptions.LayerAlreadyExistsException:
            pass


def send_response(event: dict[str, Any], status: str, data: dict[str, Any], reason: str = "",
                  physical_id: str | None = None) -> None:
    body = json.dumps({
        "Status": status, "Reason": reason[:3000] or status,
        "PhysicalResourceId": physical_id or event.get("PhysicalResourceId")
        or event["LogicalResourceId"],
        "StackId": event["StackId"], "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"], "Data": data,
    }).encode()
    req = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                 headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(req, timeout=30):  # noqa: S310 - CloudFormation's presigned URL
        pass


def handler(event: dict[str, Any], context: Any, *, ecr: Any = None,
            respond: Callable[..., None] = send_response) -> None:
    props = event.get("ResourceProperties", {})
    dest = f"{props.get('DestRepository')}:{props.get('DestTag')}"
    try:
        if event["RequestType"] in ("Create", "Update"):
            if ecr is None:
                import boto3  # noqa: PLC0415 - only in Lambda

                ecr = boto3.client("ecr")
            digest = Copier(ecr).copy(props["SourceRepository"], props["SourceTag"],
                                      props["DestRepository"], props["DestTag"])
            respond(event, "SUCCESS", {"Digest": digest}, physical_id=dest)
        else:
            respond(event, "SUCCESS", {}, physical_id=event.get("PhysicalResourceId") or dest)
    except Exception as err:  # noqa: BLE001 - CloudFormation must always get an answer
        traceback.print_exc()
        respond(event, "FAILED", {}, reason=f"copying to {dest} failed: {err}", physical_id=dest)
