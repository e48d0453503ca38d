package e2e
{
    /** "addressbook.PhoneNumber" of examples/addressbook. */
    public class AbPhoneNumber
    {
        public var sa_key:Array;
        public var sa_lazy:Array;
        public var id:Object;
        public var user_id:Object;
        public var label:String;
        public var number:String;
        public var user:AbUser;
    }
}
