"""Host images: the Images construct declares a Docker asset per image (staged at synth,
built only at deploy: no Docker needed here) and copies it into the host repository; and
the copy Lambda's logic against a fake ECR."""

from __future__ import annotations

import io
import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from hyper_tui.aws.infra.components.images import handler as copy
from hyper_tui.aws.infra.components.images.construct import Images
from hyper_tui.aws.infra.components.logs.construct import retention
from hyper_tui.model import Image


def test_images_construct_declares_the_asset_and_its_copy(tmp_path):
    build = tmp_path / "img"
    build.mkdir()
    (build / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY run.sh /run.sh\n")
    (build / "run.sh").write_text("echo hi\n")
    app = cdk.App(outdir=str(tmp_path / "out"), builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Images", env=cdk.Environment(account="123456789012",
                                                          region="us-east-1"))
    images = Images(stack, "Images", images={"tools": Image(name="tools", directory=str(build),
                                                            build_args={"V": "1"})},
                    directories={"tools": build}, repository_name="hyper-demo",
                    retention=retention(30))
    assembly = app.synth()  # stages the build context; Docker runs only at deploy
    template = Template.from_json(assembly.get_stack_artifact("Images").template)
    template.has_resource_properties("Custom::HyperImageCopy", {
        "DestRepository": "hyper-demo", "DestTag": "tools",
        "SourceRepository": Match.string_like_regexp("container-assets"),
        "SourceTag": images.assets["tools"].asset_hash})
    manifest = json.loads((tmp_path / "out" / "Images.assets.json").read_text())
    docker = list(manifest["dockerImages"].values())
    assert len(docker) == 1
    source = docker[0]["source"]
    assert source["dockerBuildArgs"] == {"V": "1"} and source["platform"] == "linux/amd64"
    staged = tmp_path / "out" / source["directory"]
    assert (staged / "Dockerfile").is_file() and (staged / "run.sh").is_file()
    messages = assembly.get_stack_artifact("Images").messages
    assert not [m for m in messages if str(m.level).endswith("ERROR")]
    zips = [tmp_path / "out" / f["source"]["path"] for f in manifest["files"].values()
            if f["source"].get("packaging") == "zip"]
    assert [sorted(p.name for p in z.iterdir()) for z in zips] == [["handler.py"]]  # the copier


# ---- the copy Lambda -------------------------------------------------------------------------


class FakeEcr:
    class exceptions:
        class ImageAlreadyExistsException(Exception):
            pass

        class LayerAlreadyExistsException(Exception):
            pass

    def __init__(self, images, blobs):
        self.images = images  # (repo, tag or digest) -> (manifest text, media type, digest)
        self.blobs = blobs    # digest -> bytes (in the source)
        self.dest: dict[str, bytes] = {}
        self.put: list[dict] = []
        self.uploads: dict[str, bytearray] = {}

    def batch_get_image(self, repositoryName, imageIds, acceptedMediaTypes):
        key = imageIds[0].get("imageTag") or imageIds[0].get("imageDigest")
        text, media, digest = self.images[(repositoryName, key)]
        return {"images": [{"imageManifest": text, "imageManifestMediaType": media,
                            "imageId": {"imageDigest": digest}}]}

    def batch_check_layer_availability(self, repositoryName, layerDigests):
        return {"layers": [{"layerDigest": d, "layerAvailability": "AVAILABLE"}
                           for d in layerDigests if d in self.dest]}

    def get_download_url_for_layer(self, repositoryName, layerDigest):
        return {"downloadUrl": f"https://s3/{layerDigest}"}

    def initiate_layer_upload(self, repositoryName):
        upload = f"u{len(self.uploads)}"
        self.uploads[upload] = bytearray()
        return {"uploadId": upload, "partSize": 4}

    def upload_layer_part(self, repositoryName, uploadId, partFirstByte, partLastByte,
                          layerPartBlob):
        buf = self.uploads[uploadId]
        assert partFirstByte == len(buf) and partLastByte == partFirstByte + len(layerPartBlob) - 1
        buf.extend(layerPartBlob)

    def complete_layer_upload(self, repositoryName, uploadId, layerDigests):
        self.dest[layerDigests[0]] = bytes(self.uploads[uploadId])

    def put_image(self, **kw):
        self.put.append(kw)


def manifest(config, layers):
    return json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"digest": config}, "layers": [{"digest": d} for d in layers]})


def opener(ecr):
    return lambda url: io.BytesIO(ecr.blobs[url.rsplit("/", 1)[1]])


def test_copy_streams_missing_blobs_in_parts_then_puts_the_tag():
    ecr = FakeEcr({("assets", "abc"): (manifest("c1", ["l1", "l2"]), None, "sha256:top")},
                  {"c1": b"config", "l1": b"0123456789", "l2": b"x"})
    ecr.dest["l2"] = b"x"  # already there: not copied again
    digest = copy.Copier(ecr, opener(ecr)).copy("assets", "abc", "hyper-demo", "tools")
    assert digest == "sha256:top"
    assert ecr.dest["l1"] == b"0123456789" and ecr.dest["c1"] == b"config"
    assert len(ecr.uploads) == 2
    assert ecr.put == [{"repositoryName": "hyper-demo", "imageTag": "tools",
                        "imageManifest": manifest("c1", ["l1", "l2"]),
                        "imageManifestMediaType":
                            "application/vnd.docker.distribution.manifest.v2+json"}]


def test_copy_of_an_index_copies_each_platform_first():
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"digest": "sha256:amd"}, {"digest": "sha256:att"}]})
    ecr = FakeEcr({("assets", "abc"): (index, None, "sha256:idx"),
                   ("assets", "sha256:amd"): (manifest("c1", ["l1"]), None, "sha256:amd"),
                   ("assets", "sha256:att"): (manifest("c2", []), None, "sha256:att")},
                  {"c1": b"c", "l1": b"layer", "c2": b"a"})
    copy.Copier(ecr, opener(ecr)).copy("assets", "abc", "hyper-demo", "tools")
    assert [p.get("imageDigest") or p.get("imageTag") for p in ecr.put] == [
        "sha256:amd", "sha256:att", "tools"]
    assert set(ecr.dest) == {"c1", "l1", "c2"}


@pytest.mark.parametrize("kind", ["Create", "Delete"])
def test_custom_resource_always_answers(kind):
    ecr = FakeEcr({}, {})  # no such image: Create fails, Delete succeeds
    answers = []
    event = {"RequestType": kind, "ResponseURL": "https://cfn", "StackId": "s", "RequestId": "r",
             "LogicalResourceId": "Copy", "PhysicalResourceId": "hyper-demo:tools",
             "ResourceProperties": {"SourceRepository": "assets", "SourceTag": "abc",
                                    "DestRepository": "hyper-demo", "DestTag": "tools"}}
    copy.handler(event, None, ecr=ecr,
                 respond=lambda ev, status, data, reason="", physical_id=None:
                 answers.append((status, physical_id, reason)))
    assert len(answers) == 1
    status, physical, reason = answers[0]
    assert physical == "hyper-demo:tools"
    assert status == ("FAILED" if kind == "Create" else "SUCCESS")
    if kind == "Create":
        assert "copying to hyper-demo:tools failed" in reason
