#!/bin/sh
# Install Inspector Search for the current user into ~/.local (no root, no network, no Python needed).
#
#   ./install.sh               copy this folder to ~/.local/lib/inspector-search, add the command
#                              ~/.local/bin/inspector-search, a menu entry and the icon
#   ./install.sh --uninstall   remove all of that again; the archive and settings are kept
#                              (~/.local/share/InspectorSearch, ~/.config/InspectorSearch)
#
# Run it from the unpacked InspectorSearch-<version>-linux-<arch> folder. XDG_DATA_HOME is honoured.
set -eu

SOURCE_DIR=$(cd "$(dirname "$0")" && pwd)
DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
APP_DIR=$HOME/.local/lib/inspector-search
BIN_LINK=$HOME/.local/bin/inspector-search
DESKTOP_FILE=$DATA_HOME/applications/inspector-search.desktop
ICON_PNG=$DATA_HOME/icons/hicolor/256x256/apps/inspector-search.png
ICON_SVG=$DATA_HOME/icons/hicolor/scalable/apps/inspector-search.svg

refresh_caches() {
    # Menus pick the entry up without these too; they only make it appear sooner.
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$DATA_HOME/applications" || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$DATA_HOME/icons/hicolor" || true
}

uninstall() {
    rm -rf "$APP_DIR"
    rm -f "$BIN_LINK" "$DESKTOP_FILE" "$ICON_PNG" "$ICON_SVG"
    refresh_caches
    echo "Inspector Search removed. Your archive and settings are kept in $DATA_HOME/InspectorSearch."
}

install() {
    if [ ! -x "$SOURCE_DIR/InspectorSearch" ] || [ ! -x "$SOURCE_DIR/inspector-search" ]; then
        echo "install.sh: run me from the unpacked InspectorSearch folder (InspectorSearch not found beside me)" >&2
        exit 1
    fi
    if [ "$SOURCE_DIR" != "$APP_DIR" ]; then
        # Copy into a new folder first, then swap: a failed copy leaves the old installation working.
        mkdir -p "$(dirname "$APP_DIR")"
        rm -rf "$APP_DIR.new"
        cp -R "$SOURCE_DIR" "$APP_DIR.new"
        chmod -R u+w "$APP_DIR.new"  # the unpacked folder may be read-only; the copy must be removable
        rm -rf "$APP_DIR"
        mv "$APP_DIR.new" "$APP_DIR"
    fi
    mkdir -p "$(dirname "$BIN_LINK")" "$(dirname "$DESKTOP_FILE")" "$(dirname "$ICON_PNG")" "$(dirname "$ICON_SVG")"
    ln -sf "$APP_DIR/inspector-search" "$BIN_LINK"
    cp "$APP_DIR/_internal/resources/inspector-search.png" "$ICON_PNG"
    cp "$APP_DIR/_internal/resources/icons/app.svg" "$ICON_SVG"
    sed "s|@APP_DIR@|$APP_DIR|g" "$APP_DIR/inspector-search.desktop" > "$DESKTOP_FILE"
    chmod 644 "$DESKTOP_FILE"
    refresh_caches
    echo "Inspector Search $("$APP_DIR/inspector-search" --version | sed 's/^inspector-search //') installed in $APP_DIR"
    echo "Start it from the applications menu (Inspector Search) or run: $BIN_LINK"
    case ":$PATH:" in
        *":$HOME/.local/bin:"*) ;;
        *) echo "Note: $HOME/.local/bin is not on your PATH; use the full path above or add it." ;;
    esac
}

case "${1:-}" in
    --uninstall) uninstall ;;
    "") install ;;
    *) echo "usage: $0 [--uninstall]" >&2; exit 2 ;;
esac
