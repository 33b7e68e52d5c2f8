#!/usr/bin/env bash
# Runs examples/memorres-aws.yaml against moto (no AWS account): starts
# moto's server (installed by scripts/moto.sh), seeds a bucket with a live
# release and a new one, creates the alarms, and runs the release.
#   examples/aws/try-with-moto.sh            # releases 2.0.0
#   examples/aws/try-with-moto.sh broken     # 2.0.0 lacks assets/: validation fails, S3 is rolled back
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source scripts/moto.sh
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
"${CARGO_TARGET_DIR:-$root/target}/moto-venv/bin/python" - "$RELCTL_TEST_MOTO_URL" "${1:-ok}" <<'PY'
import sys, boto3
url, mode = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
s3.create_bucket(Bucket="memorres-web-assets")
files = {"live/index.html": "<h1>1.9.0</h1>", "live/assets/app-1.9.0.js": "v1.9",
         "releases/2.0.0/index.html": "<h1>2.0.0</h1>"}
if mode != "broken":
    files["releases/2.0.0/assets/app-2.0.0.js"] = "v2.0"
for key, body in files.items():
    s3.put_object(Bucket="memorres-web-assets", Key=key, Body=body.encode(),
                  ContentType="text/html" if key.endswith(".html") else "application/javascript")
cw = boto3.client("cloudwatch", endpoint_url=url, region_name="us-east-1")
for name in ("memorres-prod-5xx", "memorres-prod-latency"):
    cw.put_metric_alarm(AlarmName=name, MetricName=name, Namespace="memorres", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
print("seeded s3://memorres-web-assets and the memorres-prod-* alarms", file=sys.stderr)
PY
relctl=${RELCTL:-}
if [ -z "$relctl" ]; then cargo build --release --quiet; relctl="$root/target/release/relctl"; fi
"$relctl" run examples/memorres-aws.yaml --approve all --as alice --state-dir "$(mktemp -d)" \
  --var version=2.0.0 --var endpoint_url="$RELCTL_TEST_MOTO_URL" --var with_ecs=no --var bake=no "${@:2}"
