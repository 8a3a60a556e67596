#!/usr/bin/python3
"""A D-Bus client that sends calls and never reads a byte of the answers.

    deaf-client.py ADDRESS DESTINATION PATH COUNT

Connects to ADDRESS (unix:path= or unix:abstract=), authenticates, says
Hello and sends COUNT GetManagedObjects calls to DESTINATION at PATH, then
prints "sent" and waits, holding the connection, until stdin closes.
Messages are marshalled by GLib (Gio.DBusMessage); the socket is ours, so
nothing ever reads what comes back.
"""
import os
import socket
import sys

from gi.repository import Gio


def connect(address):
    for part in address.split(';'):
        kind, _, params = part.partition(':')
        if kind != 'unix':
            continue
        fields = dict(p.split('=', 1) for p in params.split(','))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if 'path' in fields:
            sock.connect(fields['path'])
        else:
            sock.connect('\0' + fields['abstract'])
        return sock
    raise SystemExit('deaf-client: no unix address in ' + address)


def auth(sock):
    uid = str(os.getuid()).encode().hex()
    sock.sendall(b'\0AUTH EXTERNAL ' + uid.encode() + b'\r\n')
    reply = b''
    while not reply.endswith(b'\r\n'):
        reply += sock.recv(1)
    if not reply.startswith(b'OK'):
        raise SystemExit('deaf-client: authentication refused: %r' % reply)
    sock.sendall(b'BEGIN\r\n')


def blob(serial, destination, path, interface, method):
    message = Gio.DBusMessage.new_method_call(destination, path, interface,
                                              method)
    message.set_serial(serial)
    return message.to_blob(Gio.DBusCapabilityFlags.NONE)


def main():
    address, destination, path, count = sys.argv[1:5]
    sock = connect(address)
    auth(sock)
    sock.sendall(blob(1, 'org.freedesktop.DBus', '/org/freedesktop/DBus',
                      'org.freedesktop.DBus', 'Hello'))
    for serial in range(2, int(count) + 2):
        sock.sendall(blob(serial, destination, path,
                          'org.freedesktop.DBus.ObjectManager',
                          'GetManagedObjects'))
    print('sent', flush=True)
    sys.stdin.read()
    sock.close()


main()
