extension ISO8583Message {
    /// The entries of the present fields in ascending number order: one allocation, copied on write.
    ///
    /// Beside the entries, the storage keeps which field numbers are present as bitmap words
    /// (``presence``), so that the encoder has its bitmaps without a pass over the entries.
    ///
    /// A non-generic `ManagedBuffer` subclass rather than a `ContiguousArray<Entry>`: allocating one needs no
    /// generic-metadata lookup, and the decoder allocates it once, at its final size, and fills it through a
    /// pointer. A message with no fields allocates nothing.
    ///
    /// Sendable as a value: the storage is mutated only while uniquely referenced (copy on write).
    @usableFromInline
    struct Entries: RandomAccessCollection, @unchecked Sendable {
        @usableFromInline var storage: EntryStorage?

        @inlinable
        init() {
            self.storage = nil
        }

        @inlinable
        init(_ storage: EntryStorage) {
            self.storage = storage
        }

        @inlinable var startIndex: Int { 0 }
        @inlinable var endIndex: Int { self.storage?.count ?? 0 }
        @inlinable var capacity: Int { self.storage?.entryCapacity ?? 0 }

        /// The numbers of the entries as the words of ISO 8583 bitmaps: field n (1–192) is bit
        /// 63 − (n − 1) % 64 of word (n − 1) / 64, counting from the least significant.
        @inlinable var presence: EntryStorage.Presence { self.storage?.presence ?? EntryStorage.Presence() }

        @inlinable
        subscript(position: Int) -> Entry {
            get {
                precondition(position >= 0 && position < self.endIndex, "entry index out of range")
                return self.storage!.withUnsafeMutablePointerToElements { $0[position] }
            }
            set {
                precondition(position >= 0 && position < self.endIndex, "entry index out of range")
                self.reserve(self.endIndex)
                let storage = self.storage!
                let old = storage.withUnsafeMutablePointerToElements { elements in
                    defer { elements[position] = newValue }
                    return elements[position].number
                }
                storage.withUnsafeMutablePointerToHeader { header in
                    header.pointee.presence.remove(old)
                    header.pointee.presence.insert(newValue.number)
                }
            }
        }

        /// The index of the entry of field `number`, if present.
        @inlinable
        func index(of number: UInt16) -> Int? {
            guard let storage = self.storage else { return nil }
            // Messages carry a few dozen fields at most: a forward scan beats a binary search here.
            return storage.withUnsafeMutablePointerToElements { elements in
                let count = storage.count
                var i = 0
                while i < count {
                    let n = elements[i].number
                    if n == number { return i }
                    if n > number { return nil }
                    i &+= 1
                }
                return nil
            }
        }

        /// Where an entry for field `number` goes to keep the order.
        @inlinable
        func insertionIndex(of number: UInt16) -> Int {
            var i = self.endIndex
            while i > 0, self[i - 1].number > number { i -= 1 }
            return i
        }

        /// The entries in place, for a caller that holds the message they belong to (a borrowed parameter)
        /// and changes nothing while it reads them: the storage stays alive and in place meanwhile.
        ///
        /// Not a closure-taking `withUnsafeBufferPointer`: through one, the encoder retained and released the
        /// storage around every call (two atomic operations, some 60 instructions a message).
        @inlinable
        var unsafeEntries: UnsafeBufferPointer<Entry> {
            guard let storage = self.storage else { return UnsafeBufferPointer(start: nil, count: 0) }
            return storage.withUnsafeMutablePointerToElements { elements in
                UnsafeBufferPointer(start: elements, count: storage.count)
            }
        }

        @inlinable
        mutating func insert(_ entry: Entry, at position: Int) {
            let count = self.endIndex
            precondition(position >= 0 && position <= count, "entry index out of range")
            self.reserve(count + 1)
            self.storage!.withUnsafeMutablePointerToElements { elements in
                (elements + position + 1).update(from: elements + position, count: count - position)
                elements[position] = entry
            }
            self.storage!.withUnsafeMutablePointerToHeader { header in
                header.pointee.count = count + 1
                header.pointee.presence.insert(entry.number)
            }
        }

        @inlinable
        mutating func remove(at position: Int) {
            let count = self.endIndex
            precondition(position >= 0 && position < count, "entry index out of range")
            self.reserve(count)
            let number = self.storage!.withUnsafeMutablePointerToElements { elements in
                defer { (elements + position).update(from: elements + position + 1, count: count - position - 1) }
                return elements[position].number
            }
            self.storage!.withUnsafeMutablePointerToHeader { header in
                header.pointee.count = count - 1
                header.pointee.presence.remove(number)
            }
        }

        /// Makes the storage unique and able to hold `minimumCapacity` entries.
        @inlinable
        mutating func reserve(_ minimumCapacity: Int) {
            if self.capacity >= minimumCapacity, isKnownUniquelyReferenced(&self.storage) { return }
            self.reallocate(minimumCapacity)
        }

        @usableFromInline
        mutating func reallocate(_ minimumCapacity: Int) {
            let count = self.endIndex
            let old = self.capacity
            let capacity = minimumCapacity > old ? Swift.max(minimumCapacity, 2 * old, 8) : old
            let storage = EntryStorage.make(capacity: capacity)
            if let current = self.storage {
                current.withUnsafeMutablePointerToElements { from in
                    storage.withUnsafeMutablePointerToElements { to in
                        to.initialize(from: from, count: count)
                    }
                }
                storage.presence = current.presence
            }
            storage.count = count
            self.storage = storage
        }
    }
}

/// The memory of ``ISO8583Message/Entries``: a count, a capacity and the numbers present, then the entries.
@usableFromInline
final class EntryStorage: ManagedBuffer<EntryStorage.Header, ISO8583Message.Entry> {
    @usableFromInline
    struct Header {
        @usableFromInline var count: Int
        @usableFromInline var capacity: Int
        @usableFromInline var presence = Presence()

        @inlinable
        init(count: Int, capacity: Int) {
            self.count = count
            self.capacity = capacity
        }
    }

    /// Field numbers 1–192 as the words of the primary, secondary and tertiary bitmaps would carry them
    /// (without the bits that announce the next bitmap).
    @usableFromInline
    struct Presence: Sendable {
        @usableFromInline var words: (UInt64, UInt64, UInt64)

        @inlinable
        init(_ words: (UInt64, UInt64, UInt64) = (0, 0, 0)) {
            self.words = words
        }

        @inlinable
        mutating func insert(_ number: UInt16) {
            precondition(number >= 1 && number <= 192, "field numbers are 1–192")
            let bit = UInt64(1) &<< UInt64(63 &- (Int(number) &- 1) & 63)
            switch (Int(number) &- 1) &>> 6 {
            case 0: self.words.0 |= bit
            case 1: self.words.1 |= bit
            default: self.words.2 |= bit
            }
        }

        @inlinable
        mutating func remove(_ number: UInt16) {
            let bit = UInt64(1) &<< UInt64(63 &- (Int(number) &- 1) & 63)
            switch (Int(number) &- 1) &>> 6 {
            case 0: self.words.0 &= ~bit
            case 1: self.words.1 &= ~bit
            default: self.words.2 &= ~bit
            }
        }
    }

    /// The number of entries in use, through a pointer to the header: `header` is a stored property of a
    /// class, and every access to it is checked for exclusivity at run time (some 75 instructions each).
    @inlinable
    var count: Int {
        get { self.withUnsafeMutablePointerToHeader { $0.pointee.count } }
        set { self.withUnsafeMutablePointerToHeader { $0.pointee.count = newValue } }
    }

    /// The numbers of the entries (through a pointer, as ``count``).
    @inlinable
    var presence: Presence {
        get { self.withUnsafeMutablePointerToHeader { $0.pointee.presence } }
        set { self.withUnsafeMutablePointerToHeader { $0.pointee.presence = newValue } }
    }

    /// The number of entries there is room for (read through a pointer, as ``count``).
    @inlinable
    var entryCapacity: Int {
        self.withUnsafeMutablePointerToHeader { $0.pointee.capacity }
    }

    /// Empty storage for `capacity` entries.
    @inlinable
    static func make(capacity: Int) -> EntryStorage {
        let buffer = self.create(minimumCapacity: capacity) { _ in Header(count: 0, capacity: capacity) }
        return unsafeDowncast(buffer, to: EntryStorage.self)
    }
}
