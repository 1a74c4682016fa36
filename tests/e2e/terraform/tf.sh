#!/usr/bin/env bash
# Drives Terraform with the real hashicorp/aws provider against snapstack, offline: the provider
# comes from a local filesystem mirror (the machine image's, or SNAPSTACK_TF_MIRROR).
#
#   tf.sh check                     exit 0 when terraform and the provider are found, else 3 and why
#   tf.sh WORKDIR init              copy the *.tf files into WORKDIR, zip lambda/handler.py,
#                                   write the CLI config, terraform init
#   tf.sh WORKDIR ENDPOINT apply    terraform apply -auto-approve
#   tf.sh WORKDIR ENDPOINT plan     terraform plan -detailed-exitcode (0 no changes, 2 drift)
#   tf.sh WORKDIR ENDPOINT destroy  terraform destroy -auto-approve
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

find_mirror() {
    local d
    for d in ${SNAPSTACK_TF_MIRROR:-} /opt/tf-plugins /usr/share/terraform/plugins \
        /usr/local/share/terraform/plugins "$HOME/.terraform.d/plugins" \
        "$HOME/.local/share/terraform/plugins"; do
        if [ -d "$d/registry.terraform.io/hashicorp/aws" ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

if [ "${1:-}" = check ]; then
    if ! command -v terraform >/dev/null 2>&1; then
        echo "terraform is not on PATH"
        exit 3
    fi
    if ! mirror="$(find_mirror)"; then
        echo "no filesystem mirror with registry.terraform.io/hashicorp/aws (set SNAPSTACK_TF_MIRROR)"
        exit 3
    fi
    echo "terraform $(terraform version -json 2>/dev/null | sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p'), provider mirror $mirror"
    exit 0
fi

work="$1"
shift
export TF_CLI_CONFIG_FILE="$work/terraformrc"
export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 TF_INPUT=0
export TF_DATA_DIR="$work/.terraform"
unset TF_LOG TF_WORKSPACE
cd "$work" || exit 1

if [ "${1:-}" = init ]; then
    mirror="$(find_mirror)" || { echo "no provider mirror" >&2; exit 3; }
    cat >"$TF_CLI_CONFIG_FILE" <<CFG
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
CFG
    cp "$here"/*.tf "$work/"
    mkdir -p "$work/lambda"
    # The function's code, a zip with fixed timestamps (hashicorp/archive is not in the mirror).
    python3 - "$here/lambda/handler.py" "$work/lambda/handler.zip" <<'PY' || exit 1
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo("handler.py", date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    z.writestr(info, open(src, "rb").read())
PY
    exec terraform init -no-color -input=false
fi

endpoint="$1"
step="$2"
vars=(-var "endpoint=$endpoint")
case "$step" in
    apply) exec terraform apply -no-color -input=false -auto-approve "${vars[@]}" ;;
    plan) exec terraform plan -no-color -input=false -detailed-exitcode "${vars[@]}" ;;
    destroy) exec terraform destroy -no-color -input=false -auto-approve "${vars[@]}" ;;
    *) echo "unknown step $step" >&2; exit 64 ;;
esac
