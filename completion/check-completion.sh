#!/bin/bash
# Checks the bash completion of pcipassctl against a pcipassctl stand-in
# that answers as the real one does on a small host.
#   completion/check-completion.sh COMPLETION PCIPASSCTL
# Every option it offers must be one `PCIPASSCTL COMMAND --help` lists.
set -u
completion=$1
real=$2
stub=$(mktemp -d)
trap 'rm -rf "$stub"' EXIT
cat > "$stub/pcipassctl" <<'STUB'
#!/bin/sh
case "$1 $2" in
  "list --json") printf '[\n  {\n    "address" : "0000:01:00.0",\n    "vendor_id" : "10de"\n  },\n  {\n    "address" : "0000:01:00.1",\n    "vendor_id" : "10de"\n  }\n]\n' ;;
  "resources --json") printf '{\n  "resources" : [\n    {\n      "name" : "gpu.nvidia/a10",\n      "total" : 8,\n      "free" : 8\n    }\n  ]\n}\n' ;;
esac
STUB
chmod +x "$stub/pcipassctl"
PATH=$stub:$PATH
# shellcheck disable=SC1090
source "$completion"

failed=0
complete_line() {
    read -r -a COMP_WORDS <<< "$1"
    if [[ $1 == *" " ]]; then COMP_WORDS+=(""); fi
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _pcipassctl
    echo "${COMPREPLY[*]}"
}
expect() {
    local got
    got=$(complete_line "$1")
    if [[ $got != "$2" ]]; then
        echo "FAIL '$1': got '$got', expected '$2'"
        failed=1
    else
        echo "ok '$1' -> '$got'"
    fi
}

expect "pcipassctl al" "allocate"
expect "pcipassctl re" "resources reserve release reload"
expect "pcipassctl bind " "0000:01:00.0 0000:01:00.1"
expect "pcipassctl bind 0000:01:00.1" "0000:01:00.1"
expect "pcipassctl allocate " "gpu.nvidia/a10"
expect "pcipassctl list --type n" "network"
expect "pcipassctl reserve --t" "--tied"
expect "pcipassctl help rel" "release reload"

# Each command's options are the real ones.
for command in list show groups bind unbind resources reserve release allocate hostdev reload validate monitor; do
    offered=$(complete_line "pcipassctl $command --")
    known=$("$real" "$command" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
    for option in $offered; do
        if ! grep -qx -- "$option" <<< "$known"; then
            echo "FAIL $command: completes $option, which $command --help does not list"
            failed=1
        fi
    done
    for option in $known; do
        if ! grep -qw -- "$option" <<< "$offered"; then
            echo "FAIL $command: does not complete $option"
            failed=1
        fi
    done
done
exit $failed
