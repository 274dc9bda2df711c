"""Place the HTML viewer's layout library in ``graphexec/viz/assets``: ``@dagrejs/dagre``
(MIT), pinned, fetched from the npm registry with ``npm pack``, checked against the integrity
hash the registry published for that version, and unpacked unmodified with its licence.
``assets/VENDORED`` records what was placed and each file's SHA-256 (a test checks the files
still match).  The viewer's own code (``viewer.js``, ``viewer.css``) is written in the repo.

    python scripts/vendor_js.py          # fetch, verify and place
"""

from __future__ import annotations

import base64
import hashlib
import io
import pathlib
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "@dagrejs/dagre"
VERSION = "3.1.3"
#: the registry's ``dist.integrity`` for that version (``npm view @dagrejs/dagre@3.1.3 dist``)
INTEGRITY = ("sha512-X4aUTwOReZvthaZWOVHqlJ52/ZdhZFEM4+Lh/uR4XooUSLE6p71bcy7MPGzYnNUcNh+nj+i/"
             "qJQpCMIdQnSmrg==")
#: file in the package tarball -> name under assets/
FILES = {"package/dist/dagre.min.js": "dagre.min.js", "package/LICENSE": "dagre.LICENSE"}
ASSETS = pathlib.Path(__file__).resolve().parent.parent / "graphexec" / "viz" / "assets"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent"], cwd=tmp,
                             check=True, capture_output=True, text=True).stdout.split()
        data = (pathlib.Path(tmp) / out[-1]).read_bytes()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != INTEGRITY:
        print(f"{PACKAGE}@{VERSION}: integrity {digest} is not the pinned {INTEGRITY}",
              file=sys.stderr)
        return 1
    record = [f"{PACKAGE}@{VERSION} {INTEGRITY}"]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member, name in FILES.items():
            f = tar.extractfile(member)
            assert f is not None, member
            body = f.read()
            (ASSETS / name).write_bytes(body)
            record.append(f"{name} {member} sha256:{hashlib.sha256(body).hexdigest()}")
    (ASSETS / "VENDORED").write_text("\n".join(record) + "\n")
    print("\n".join(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
