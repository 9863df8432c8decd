/*!
Key rotation (`pinsign rotate`): re-signing every image still in use with a new key, only
where the old key's signature verifies now, in the same place as the old signature; and,
after the overlap, taking the old key's signatures out again (`--prune-old`).

- [`pods`]: the images running in a cluster, from `kubectl get pods -A -o json` (pure).
- [`inputs`]: the digest list: list files and pods, deduplicated, pinned, sharded.
- [`plan`]: what to do for one image, from its judged signatures (pure).
- [`work`]: one image's rotation or prune, the registry I/O around the plan.
- [`report`]: the per-image report, the counts and the summary line (pure).

Why it is safe to run again, and to interrupt: every decision is taken from what the
registry holds now (an image already carrying a valid new-key signature is "already
rotated"; one without old-key layers is "already pruned"), and every write is the signing
path's append or the prune's removal, each confirmed by a read-back. A run that stopped
half-way leaves each image either untouched or done; the next run finishes the rest.

What is left for Sigstore bundles: [`crate::verification::Place`] names the `.sig` tag and
the referrers; a bundle found by `verify` gets a variant of its own (with its format), and
[`Place::placement`](crate::verification::Place::placement) turns it into a bundle
placement for the signer, so the plan re-signs it "in the same place and format" without
change. The prune removes `.sig` layers and cosign signature artifacts; bundle artifacts
need their own judge (DSSE over the statement) before they can be deleted.
*/

pub mod inputs;
pub mod plan;
pub mod pods;
pub mod report;
pub mod work;

pub use inputs::{Input, Pinned};
pub use plan::{Decision, KeyIds, Target};
pub use pods::{Deployed, DeployedImage};
pub use report::{ImageReport, RunReport, Status, Summary};
pub use work::{Prune, Rotation};
