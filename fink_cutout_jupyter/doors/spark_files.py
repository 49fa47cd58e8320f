"""Paths of Spark's Hadoop filesystem, on the driver (py4j), for Spark's export.

`HadoopPath` is a path as Spark writes it (any scheme its Hadoop configuration takes). Its
`HadoopPath.rename_to` moves a complete dataset to its name and refuses a name that exists by
then (Hadoop's ``FileContext.rename``), so that no reader sees a part-written dataset and no
other writer's is written over.
"""

from __future__ import annotations

from fink_cutout_jupyter.errors import BadParameter


def _before_rename(uri: str) -> None:
    """Called just before the complete dataset at `uri` is renamed (tests pause here)."""


class HadoopPath:
    """A path of Spark's Hadoop filesystem, on the driver (py4j): what Spark writes through."""

    def __init__(self, spark, path: str, filesystem=None) -> None:
        self.spark = spark
        jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()
        given = jvm.org.apache.hadoop.fs.Path(path)
        self.filesystem = filesystem or given.getFileSystem(self.conf)
        self.path = self.filesystem.makeQualified(given)

    @property
    def uri(self) -> str:
        return str(self.path.toString())

    @property
    def name(self) -> str:
        return str(self.path.getName())

    def exists(self) -> bool:
        return bool(self.filesystem.exists(self.path))

    def is_directory(self) -> bool:
        return bool(self.filesystem.getFileStatus(self.path).isDirectory())

    def sibling(self, name: str) -> HadoopPath:
        jvm = self.spark.sparkContext._jvm
        return HadoopPath(
            self.spark, jvm.org.apache.hadoop.fs.Path(self.path.getParent(), name).toString()
        )

    def delete(self) -> None:
        self.filesystem.delete(self.path, True)

    def rename_to(self, target: HadoopPath, given: str) -> None:
        """Rename, refusing an existing `target` (`BadParameter` naming `given`): HDFS checks
        and renames in one NameNode call; a local filesystem checks just before renaming."""
        _before_rename(self.uri)
        jvm = self.spark.sparkContext._jvm
        context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(
            target.path.toUri(), self.conf
        )
        no_options = self.spark.sparkContext._gateway.new_array(
            getattr(jvm.org.apache.hadoop.fs, "Options$Rename"), 0
        )
        try:
            context.rename(self.path, target.path, no_options)
        except Exception as error:  # py4j's Py4JJavaError, its Java exception attached
            java = getattr(error, "java_exception", None)
            if java is not None and "FileAlreadyExists" in str(java.getClass().getName()):
                raise BadParameter(
                    f"out: {given} exists (made while the export ran); the export was not "
                    "written over it"
                ) from None
            raise
