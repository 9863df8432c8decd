#!/bin/sh
# Rotate the image signing key of a platform: the script a platform team runs.
#
#   rotate-key.sh begin    new key, Forgejo secret steps, re-sign what runs, overlap policy
#   rotate-key.sh finish   (after the overlap) re-sign stragglers, prune the old key, final policy
#
# Both phases can be run again after an interruption: every step is idempotent (an image
# already re-signed is "already rotated", one already pruned "already pruned").
#
# Environment:
#   OLD_PUB         the retiring key's public key (default: cosign.pub)
#   NEW_PREFIX      the new key pair's prefix (default: cosign-$(date +%Y)); NEW_PREFIX.key
#                   is written encrypted (mode 0600) with COSIGN_PASSWORD
#   IMAGES          the policy's image pattern (default: oci.example.org/team/*)
#   EXTRA_IMAGES    optional: a file of images in use outside the cluster, one per line
#   SHARD           optional: I/N, this job's share (a Forgejo matrix of N jobs)
#   DRY_RUN=1       print what would be done; write nothing
#   KUBECTL         the kubectl to run (default: kubectl)
#   Registry credentials as for every pinsign command (PINSIGN_REGISTRY_USERNAME and
#   PINSIGN_REGISTRY_PASSWORD, or the usual auth files); COSIGN_REPOSITORY if signatures
#   live in a separate repository.
set -eu

phase=${1:-}
OLD_PUB=${OLD_PUB:-cosign.pub}
NEW_PREFIX=${NEW_PREFIX:-cosign-$(date +%Y)}
IMAGES=${IMAGES:-oci.example.org/team/*}
KUBECTL=${KUBECTL:-kubectl}

set --
[ -n "${EXTRA_IMAGES:-}" ] && set -- "$@" --images-from "$EXTRA_IMAGES"
[ -n "${SHARD:-}" ] && set -- "$@" --shard "$SHARD"
[ "${DRY_RUN:-}" = 1 ] && set -- "$@" --dry-run

step() { printf '\n== %s\n' "$*" >&2; }

deployed() {
    step "what runs in the cluster now: $KUBECTL get pods -A -o json > deployed.json"
    "$KUBECTL" get pods -A -o json > deployed.json.tmp
    mv deployed.json.tmp deployed.json
}

case $phase in
begin)
    step "1. the new key pair: $NEW_PREFIX.key (encrypted) and $NEW_PREFIX.pub"
    if [ -e "$NEW_PREFIX.key" ]; then
        echo "$NEW_PREFIX.key exists: resuming with it" >&2
    elif [ "${DRY_RUN:-}" = 1 ]; then
        echo "dry run: would run pinsign generate-key-pair --output-key-prefix $NEW_PREFIX" >&2
    else
        pinsign generate-key-pair --output-key-prefix "$NEW_PREFIX"
    fi

    step "2. the Forgejo secrets (do this AFTER step 4 is applied, never before)"
    cat >&2 <<EOF
   The overlap policy (step 4) admits both keys. Once it is applied in every cluster, switch
   CI to the new key, in the organisation (or each repository) that signs images:
     Settings -> Actions -> Secrets:
       COSIGN_PRIVATE_KEY  <- the whole content of $NEW_PREFIX.key
       COSIGN_PASSWORD     <- its password
   or with the API (a token with write:organization):
     curl -X PUT -H "Authorization: token \$FORGEJO_TOKEN" -H 'Content-Type: application/json' \\
       "\$FORGEJO_URL/api/v1/orgs/\$ORG/actions/secrets/COSIGN_PRIVATE_KEY" \\
       -d "\$(jq -n --rawfile k $NEW_PREFIX.key '{data: \$k}')"
   Then publish $NEW_PREFIX.pub where verifiers read the public key.
EOF

    deployed
    step "3. re-sign every digest that runs (and EXTRA_IMAGES), where the old key's signature verifies"
    step "4. the overlap policy, admitting the old and the new key: overlap-policy.yaml"
    if [ -e "$NEW_PREFIX.key" ]; then
        set -- --new-key "$NEW_PREFIX.key" "$@"
    else
        # A dry run before step 1 wrote the key: rotate makes one in memory only.
        set -- --new-key-prefix "$NEW_PREFIX" "$@"
    fi
    pinsign rotate --old-key "$OLD_PUB" --deployed-from deployed.json \
        --report rotate-report.json --policy-out overlap-policy.yaml --image "$IMAGES" "$@"
    cat >&2 <<EOF

Next: kubectl apply -f overlap-policy.yaml (every cluster), then the secrets of step 2.
Images reported "skipped" carry no valid old-key signature: nothing was written for them
(see rotate-report.json). When every pipeline signs with the new key: rotate-key.sh finish
EOF
    ;;
finish)
    deployed
    step "1. re-sign what was deployed since 'begin' with the old key (already rotated ones are left alone)"
    pinsign rotate --old-key "$OLD_PUB" --new-key "$NEW_PREFIX.key" \
        --deployed-from deployed.json --report rotate-report.json "$@"
    step "2. remove the old key's signatures where the new key's verifies"
    pinsign rotate --prune-old --old-key "$OLD_PUB" --new-key "$NEW_PREFIX.pub" \
        --deployed-from deployed.json --report prune-report.json "$@"
    step "3. the final policy, the new key only: final-policy.yaml"
    if [ "${DRY_RUN:-}" = 1 ]; then
        echo "dry run: would run pinsign policy kyverno --key $NEW_PREFIX.pub --image '$IMAGES' --kind cluster-policy --output-file final-policy.yaml" >&2
    else
        pinsign policy kyverno --key "$NEW_PREFIX.pub" --image "$IMAGES" \
            --kind cluster-policy --output-file final-policy.yaml
    fi
    cat >&2 <<EOF

Next: kubectl apply -f final-policy.yaml (every cluster). Then retire $OLD_PUB and the old
private key (delete the old secret values; keep $OLD_PUB only to read old reports).
EOF
    ;;
*)
    echo "usage: $0 begin|finish (see the header of this script)" >&2
    exit 2
    ;;
esac
