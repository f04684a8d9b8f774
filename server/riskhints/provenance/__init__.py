"""Which lines are AI-suggested (or changed): explicit markers, git history, edits the server
saw. Everything here is best-effort and quiet: no git, a non-repository folder or a shallow
clone simply yield fewer regions, never an error."""
