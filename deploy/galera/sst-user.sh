#!/bin/bash
# First start of a node (docker-entrypoint-initdb.d): the user mariabackup donors log in with.
docker_process_sql <<SQL
CREATE USER IF NOT EXISTS 'sst'@'localhost' IDENTIFIED BY '${SST_PASSWORD:?set SST_PASSWORD}';
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'sst'@'localhost';
SQL
