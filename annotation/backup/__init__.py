"""Project backup and restore: one streaming gzip JSONL file with every row of a project.

`annotation.services.backups` is the entry point (`project_backup_write`,
`project_backup_chunks`, `project_restore`); `registry` says what is in a backup,
`writer` and `restore` do the work.
"""
