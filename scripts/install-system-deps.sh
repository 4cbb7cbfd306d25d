#!/usr/bin/env bash
# Installs and starts what a fresh Debian machine lacks for MIA's tests:
# a MariaDB server reachable as root without a password on 127.0.0.1:3306
# (database `test`), Chromium for the browser tests, and Node.js/npm for the
# patient pages' browser assets; Orthanc with its DICOMweb plugin, dicom3tools
# and jpegtran for records filing. Safe to re-run;
# does nothing that is already in place. Needs root (or sudo) only when
# something must be installed.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

missing=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server mariadb-client)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
fc-list 2>/dev/null | grep -qi "dejavu" || missing+=(fonts-dejavu-core)
# Records filing (issue 13): a real PACS for the DICOMweb tests, DICOM's own
# validator, and jpegtran for lossless JPEG fixes of display copies.
command -v Orthanc >/dev/null 2>&1 || missing+=(orthanc)
[ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || missing+=(orthanc-dicomweb)
command -v dciodvfy >/dev/null 2>&1 || missing+=(dicom3tools)
command -v jpegtran >/dev/null 2>&1 || missing+=(libjpeg-turbo-progs)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mariadb_up() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1; }

if ! mariadb_up; then
  echo "starting MariaDB"
  $SUDO mkdir -p /run/mysqld
  $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  for _ in $(seq 1 60); do
    mariadb-admin -uroot ping >/dev/null 2>&1 && break
    sleep 1
  done
fi

if ! mariadb_up; then
  # A fresh Debian install lets root in through the unix socket only.
  echo "allowing root over TCP from 127.0.0.1 without a password (test server only)"
  $SUDO mariadb -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
fi
mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -uroot -e "CREATE DATABASE IF NOT EXISTS test" >/dev/null
mariadb_up && echo "MariaDB ready on 127.0.0.1:3306"
