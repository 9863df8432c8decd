/*!
Talking to registries: the only module that builds URLs or sends HTTP.
*/
