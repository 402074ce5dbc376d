# Shared by the scripts that walk tests/guest/manifest.txt; source it after
# setting $manifest.

# selected NAME [WANTED...]: true when no names were wanted, or NAME is one.
selected() {
    [ $# -eq 1 ] && return 0
    want=$1
    shift
    for n in "$@"; do
        [ "$n" = "$want" ] && return 0
    done
    return 1
}

# check_names NAME...: exits with status 2 on a name the manifest lacks, so a
# typo is an error rather than a run that compares nothing.
check_names() {
    for n in "$@"; do
        if ! grep -q "^$n[[:space:]]" "$manifest"; then
            echo "$n: not in $manifest" >&2
            exit 2
        fi
    done
}
