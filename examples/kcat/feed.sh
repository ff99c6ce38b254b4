#!/usr/bin/env bash
# Read an imx feed with kcat: one line per record, KEY<TAB>PARTITION<TAB>OFFSET<TAB>DELIVERY_ID
# (the delivery id is the record's imx-id header), from the beginning to the current end.
#
#   feed.sh TOPIC                      e.g. feed.sh feed.gpd-oc
#   feed.sh --raw TOPIC PARTITION OFFSET > value.bin
#                                      that one record's value, the raw single-object Avro
#                                      bytes, for a decoder that can read them (see README.md)
#
# Environment: KAFKA_BOOTSTRAP (default 127.0.0.1:9092); KCAT_CONFIG, a librdkafka properties
# file for a secured broker (see kcat.conf.example).
set -euo pipefail

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

command -v kcat >/dev/null || { echo "feed.sh: kcat is not installed (Debian: apt-get install kcat)" >&2; exit 127; }

raw=false
if [[ ${1:-} == --raw ]]; then
  raw=true
  shift
  [[ $# -eq 3 ]] || usage
else
  [[ $# -eq 1 ]] || usage
fi
topic=$1

args=(-C -q -e -b "${KAFKA_BOOTSTRAP:-127.0.0.1:9092}" -t "$topic"
      # librdkafka's default already; written down because imx's producers may write in
      # transactions, and a record of an aborted one is not a delivery.
      -X isolation.level=read_committed)
if [[ -n ${KCAT_CONFIG:-} ]]; then
  args+=(-F "$KCAT_CONFIG")
fi

if $raw; then
  # -c 1: exactly that record; %s alone: its value bytes, no separator added.
  exec kcat "${args[@]}" -p "$2" -o "$3" -c 1 -f '%s'
fi

# %h is every header as name=value, comma-separated; imx-id is picked out of it here since kcat
# has no format token for one header. Delivery ids hold no comma.
kcat "${args[@]}" -o beginning -f '%k\t%p\t%o\t%h\n' |
  awk -F '\t' -v OFS='\t' '{
    id = ""
    n = split($4, headers, ",")
    for (i = 1; i <= n; i++) {
      if (index(headers[i], "imx-id=") == 1) { id = substr(headers[i], 8) }
    }
    print $1, $2, $3, id
  }'
