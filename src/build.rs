/*!
Running buildah and skopeo: the only module that does. The pushed digest comes from the
tools' `--digestfile`, never from their stdout.
*/
