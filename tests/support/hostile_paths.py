"""Paths a client may send that name no file of the lake, and the error each must get."""

from fink_cutout_jupyter.errors import BadParameter, NotFound, OutsideLake

HOSTILE_PATHS = [
    ("/etc/passwd", OutsideLake),
    ("../../etc/passwd", OutsideLake),
    ("science/../../secret.parquet", OutsideLake),
    ("science/year=1988/../../..", OutsideLake),
    ("..", OutsideLake),
    ("..\\..\\windows", OutsideLake),
    ("\\\\server\\share", OutsideLake),
    ("~root/.ssh/id_rsa", OutsideLake),
    ("hdfs://127.0.0.1:9000/user/toto/somefolder/myparquet.parquet", OutsideLake),
    ("file:///etc/passwd", OutsideLake),
    ("s3://bucket/key.parquet", OutsideLake),
    ("C:/Windows/system.ini", OutsideLake),
    ("", BadParameter),
    ("   ", BadParameter),
    ("./", NotFound),
    ("science/\x00.parquet", BadParameter),
    (None, BadParameter),
    (["a.parquet"], BadParameter),
]
