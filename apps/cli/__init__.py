"""Installer and operator CLI (`ccxt-oms`)."""
