# Sourced by the setup scripts: install_missing LABEL COMMAND PACKAGE installs Debian's PACKAGE
# when COMMAND is not on PATH (as root, with apt-get), else says what to install and fails.
install_missing() {
    local label=$1 command=$2 package=$3
    if command -v "$command" >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "$label: installing $command (Debian package $package)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
    else
        echo "$label: $command is missing; install it (Debian: apt-get install $package)" >&2
        exit 1
    fi
}
