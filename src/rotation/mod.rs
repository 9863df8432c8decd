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

"The same place and format": every signature `verify` finds carries its
[`Placement`](crate::signing::Placement) (the `.sig` tag of a repository, a cosign referrer,
or a Sigstore bundle listed by the referrers API or the referrers tag), and the new key's
signature is written to exactly that placement. The prune removes `.sig` layers and cosign
signature artifacts; a bundle artifact needs its own judge (DSSE over the statement) before
it can be deleted, so old-key bundles are left in place.
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
