#!/usr/bin/env bash
# Run HERE (a machine with Maven Central): packs what the GPU machine cannot download into the
# git-ignored folder .gpu-carry/ (a jlink'd Java runtime, the runnable jar, the compiled tests and
# the JUnit console). Then, with the device tool:
#     run  command="bash gpu/check.sh"  carry=[".gpu-carry"]
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu-carry
rm -rf "$out" && mkdir -p "$out"
mvn -B -q -DskipTests package test-compile
mvn -B -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.11.4 \
    -DoutputDirectory="$out"
cp target/jnora.jar "$out/"
# The embedded model's ONNX file (77 MB compressed) cannot fit the carry: the GPU machine gets the jar
# without it, so the model's tests skip there and the demo runs with --synthetic.
command -v zip >/dev/null || { echo "gpu/pack.sh: needs zip (apt-get install zip)" >&2; exit 1; }
zip -q -d "$out/jnora.jar" bge-small-en-v1.5.onnx
tar -C target -czf "$out/test-classes.tar.gz" test-classes
# The test classpath beyond jnora.jar: JUnit's engine is inside the console jar.
jre=$(mktemp -d)/jre
jlink --add-modules java.base,java.logging,jdk.unsupported,java.management,java.scripting,java.xml \
      --strip-debug --no-header-files --no-man-pages --compress=2 --output "$jre"
tar -C "$(dirname "$jre")" -czf "$out/jre.tar.gz" jre
du -sh "$out"/* | sed 's/^/  /'
echo "packed $(du -sh "$out" | cut -f1) into $out (the carry limit is 64 MiB with the tree)"
