/*!
cosign's wire formats, as pure data: no I/O here.

Owns: the simple-signing payload, signature layers (`dev.cosignproject.cosign/signature`),
the `.sig` manifest (read, merge without losing anything, write), and the OCI 1.1
referrers artifact.
*/
