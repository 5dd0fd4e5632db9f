#!/bin/sh
# valkey-server with protected mode off unless the arguments set it (as in the upstream image).
case " $* " in
  *" --protected-mode "*) exec /usr/local/lib/valkey/valkey-server "$@" ;;
  *) exec /usr/local/lib/valkey/valkey-server "$@" --protected-mode no ;;
esac
