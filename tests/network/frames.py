"""Hand-made IPv4 frames sent from inside a container's network namespace.

A container's 127.0.0.1 is its own loopback, so it cannot address the host's
with a socket; a neighbour on the bridge can still put a frame on the wire with
the host's MAC address and 127.0.0.1 as the destination (the CVE-2020-8558
attack). Run inside the namespace (the test starts it with nsenter):

    frames.py IFNAME HOST_MAC SOURCE PROTO PORT DESTINATION...

sends one packet from SOURCE to each DESTINATION:PORT in order (UDP: a datagram;
TCP: a SYN), each from a source port of its own, to HOST_MAC out of IFNAME. For
TCP it then prints, one a line, the sender of each answer (SYN-ACK or RST) it
sees, until the last destination has answered; it exits 1 if that never happens.
"""

from __future__ import annotations

import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
SOURCE_PORT = 40000
PAYLOAD = b"from a neighbour on the bridge"
TCP_SYN, TCP_RST, TCP_ACK = 0x02, 0x04, 0x10
ANSWER_TIMEOUT = 10


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(source: str, destination: str, proto: int, payload: bytes) -> bytes:
    addresses = socket.inet_aton(source) + socket.inet_aton(destination)
    header = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0)
    header += addresses
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload


def udp(source: str, source_port: int, destination: str, port: int) -> bytes:
    datagram = struct.pack("!HHHH", source_port, port, 8 + len(PAYLOAD), 0) + PAYLOAD
    return ipv4(source, destination, socket.IPPROTO_UDP, datagram)


def tcp_syn(source: str, source_port: int, destination: str, port: int) -> bytes:
    segment = struct.pack("!HHIIBBHHH", source_port, port, 1, 0, 5 << 4, TCP_SYN, 65535, 0, 0)
    pseudo = socket.inet_aton(source) + socket.inet_aton(destination)
    pseudo += struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(segment))
    segment = segment[:16] + struct.pack("!H", checksum(pseudo + segment)) + segment[18:]
    return ipv4(source, destination, socket.IPPROTO_TCP, segment)


def tcp_answers(sock: socket.socket, source: str, last: tuple[str, int]) -> list[str]:
    """Senders of the TCP answers (SYN-ACK or RST) to ``source``, up to ``last``'s.

    ``last`` is (sender, our port): the answer that ends the wait.
    """
    answers: list[str] = []
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            frame, address = sock.recvfrom(65535)
        except TimeoutError:
            sys.exit(f"no answer from {last[0]}")
        packet = frame[14:]
        if address[2] == PACKET_OUTGOING or packet[9] != socket.IPPROTO_TCP:
            continue
        if socket.inet_ntoa(packet[16:20]) != source:
            continue
        segment = packet[(packet[0] & 0x0F) * 4 :]
        if not segment[13] & (TCP_ACK | TCP_RST):
            continue
        sender = socket.inet_ntoa(packet[12:16])
        answers.append(sender)
        if (sender, struct.unpack("!H", segment[2:4])[0]) == last:
            return answers


def main(
    ifname: str, host_mac: str, source: str, proto: str, port: str, *destinations: str
) -> None:
    build = {"udp": udp, "tcp": tcp_syn}[proto]
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP)) as sock:
        sock.bind((ifname, ETH_P_IP))
        ethernet = bytes.fromhex(host_mac.replace(":", "")) + sock.getsockname()[4]
        ethernet += struct.pack("!H", ETH_P_IP)
        last = destinations[-1]
        if proto == "tcp":
            # The host must know our MAC address before it answers from 127.0.0.1: it would
            # ask for it from 127.0.0.1, which our kernel ignores. The last destination's
            # answer to a first SYN has it learn the address.
            sock.send(ethernet + build(source, SOURCE_PORT, last, int(port)))
            tcp_answers(sock, source, (last, SOURCE_PORT))
        for index, destination in enumerate(destinations, 1):
            sock.send(ethernet + build(source, SOURCE_PORT + index, destination, int(port)))
        if proto == "tcp":
            print("\n".join(tcp_answers(sock, source, (last, SOURCE_PORT + len(destinations)))))


if __name__ == "__main__":
    main(*sys.argv[1:])
